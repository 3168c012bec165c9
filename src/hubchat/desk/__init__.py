"""The editors' desk: what the records say about the articles, computed for the review page and `hubchat eval`.

- `gaps`: content gaps, the questions readers asked that the articles did not answer (refused, or answered
  with flagged sentences), grouped into topics by clustering their embeddings, ranked by how many readers asked
  and how recently, each with the articles closest to it.
- `health`: article health, per article its citations, how many failed (checker and editors), the reader
  ratings of the answers citing it and the editors' "needs update" mark; sorted and filtered for the page.
- `agreement`: the checker's "supported" against editors' verdicts (precision, recall, confusion, per week).
- `regression`: editor-approved answers as cases to ask again (what "approved" means is defined there).
- `activity`: questions, refusal and flagged rates and reader rating per day, for the charts.
- `lifts`: the passages whose demotion editors lifted, with what withdrawing each lift would make count again.
- `export`: the desk's tables as CSV (spreadsheet-safe) and JSON.
- `figures`: all of the above computed once per state of the records (`DeskCache`, keyed on the records' version),
  so a reload with nothing new re-embeds and re-clusters nothing.

May import hubchat.records, hubchat.types, hubchat.errors and third-party analysis libraries (numpy,
scikit-learn); it takes the embedder and the article search as arguments, so it sits below the web stage and
the evaluation (which both use it) and never builds a runtime itself.
"""
