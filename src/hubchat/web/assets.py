"""The page furniture of the web UI: theme, style sheet, the citation script, headers and fixed texts.

Only static markup lives here; everything built from articles, questions or answers is in `hubchat.web.render`.
"""

from __future__ import annotations

CHAT_HEADER_HTML = (
    '<header class="hc-header"><div><span class="hc-brand">hubchat</span>'
    '<span class="hc-tagline">Answers from the site’s articles, every claim cited.</span></div>'
    '<a class="hc-editors" href="review/">Editors’ review</a></header>'
)
CHAT_PLACEHOLDER_MD = (
    "### Ask the articles\n"
    "Answers are built only from the site's articles. Click a citation marker such as [1] to open the passage "
    "that supports the sentence. Try one of these:"
)
REVIEW_HEADER_HTML = (
    '<header class="hc-header"><div><span class="hc-brand">hubchat</span>'
    '<span class="hc-tagline">Editors’ review: check what the chat answered and whether its citations hold.</span></div>'
    '<span><a class="hc-editors" href="../">Chat</a> · <a class="hc-editors" href="logout">Log out</a></span></header>'
)
LOGIN_MESSAGE_HTML = "<p>hubchat editors’ review: log in with the editor account configured for this server.</p>"


def theme():
    """The Gradio theme, with system fonts only: the page must not fetch anything from the internet."""
    import gradio as gr

    return gr.themes.Soft(
        primary_hue="indigo",
        neutral_hue="slate",
        font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )


# Opens the passage card of a clicked [n] marker and marks the span that supports the clicked sentence.
CITATION_SCRIPT = """
(function () {
  function openCitation(key, sentence, number) {
    var card = document.getElementById('src-' + key + '-' + number);
    if (!card) { return; }
    for (var p = card.parentElement; p; p = p.parentElement) { if (p.tagName === 'DETAILS') { p.open = true; } }
    card.open = true;
    document.querySelectorAll('.hc-src.hc-active, mark.hc-active').forEach(function (el) { el.classList.remove('hc-active'); });
    card.classList.add('hc-active');
    card.querySelectorAll('mark.hc-span').forEach(function (m) {
      if ((m.getAttribute('data-s') || '').split(' ').indexOf(String(sentence)) >= 0) { m.classList.add('hc-active'); }
    });
    var target = card.querySelector('mark.hc-active') || card;
    card.scrollIntoView({block: 'nearest', behavior: 'smooth'});
    target.scrollIntoView({block: 'nearest', behavior: 'smooth'});
  }
  document.addEventListener('click', function (event) {
    var link = event.target && event.target.closest ? event.target.closest('a[href^="#cite-"]') : null;
    if (!link) { return; }
    event.preventDefault();
    event.stopPropagation();
    var m = /^#cite-([0-9a-f]+)-(\\d+)-(\\d+)$/.exec(link.getAttribute('href'));
    if (m) { openCitation(m[1], m[2], m[3]); }
  }, true);
})();
"""
CITATION_JS = f"<script>{CITATION_SCRIPT}</script>"  # for Gradio's `head`

# The passage cards (chat, widget and review): Gradio's theme variables, which the widget page defines itself.
SOURCE_CARD_CSS = """
.hc-src { border: 1px solid var(--border-color-primary); border-radius: 0.55rem; padding: 0.45rem 0.7rem; margin: 0.4rem 0;
  background: var(--block-background-fill); transition: box-shadow 0.2s; }
.hc-src > summary { cursor: pointer; font-weight: 600; list-style-position: outside; }
.hc-src.hc-active { box-shadow: 0 0 0 2px var(--color-accent); }
.hc-num { color: var(--color-accent); font-variant-numeric: tabular-nums; }
.hc-meta { font-size: 0.82rem; color: var(--body-text-color-subdued); margin: 0.35rem 0 0.15rem; word-break: break-word; }
.hc-tag { display: inline-block; padding: 0 0.4em; margin: 0 0.1em; border-radius: 0.6em; background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); font-size: 0.78rem; }
.hc-section { font-size: 0.82rem; color: var(--body-text-color-subdued); }
.hc-passage { margin: 0.45rem 0 0.2rem; padding: 0.45rem 0.7rem; border-left: 3px solid var(--border-color-primary);
  font-size: 0.9rem; line-height: 1.5; max-height: 22rem; overflow-y: auto; overflow-wrap: anywhere; }
.hc-passage > :first-child { margin-top: 0; }
.hc-passage > :last-child { margin-bottom: 0; }
.hc-passage p, .hc-passage ul, .hc-passage ol, .hc-passage pre, .hc-passage table { margin: 0.35rem 0; }
.hc-passage h1, .hc-passage h2, .hc-passage h3, .hc-passage h4, .hc-passage h5, .hc-passage h6 {
  font-size: 0.95rem; font-weight: 600; margin: 0.4rem 0 0.2rem; }
.hc-passage ul, .hc-passage ol { padding-left: 1.3rem; }
.hc-passage table { border-collapse: collapse; font-size: 0.85rem; }
.hc-passage th, .hc-passage td { border: 1px solid var(--border-color-primary); padding: 0.15rem 0.4rem; }
.hc-passage pre { white-space: pre-wrap; font-size: 0.85rem; }
mark.hc-span { background: #fef08a; color: inherit; padding: 0.05em 0; border-radius: 0.15em; }
mark.hc-span.hc-active { background: #fbbf24; box-shadow: 0 0 0 2px #d97706; }
.dark mark.hc-span { background: #854d0e; }
.dark mark.hc-span.hc-active { background: #b45309; }
"""

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
.hc-header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; flex-wrap: wrap;
  padding: 0.4rem 0.2rem 0.6rem; border-bottom: 1px solid var(--border-color-primary); margin-bottom: 0.4rem; }
.hc-brand { font-size: 1.45rem; font-weight: 700; letter-spacing: -0.02em; color: var(--color-accent); margin-right: 0.7rem; }
.hc-tagline { color: var(--body-text-color-subdued); }
.hc-editors { font-size: 0.9rem; color: var(--body-text-color-subdued) !important; }
#hc-chat a[href^="#cite-"] { display: inline-block; font-size: 0.78em; font-weight: 600; text-decoration: none;
  padding: 0 0.28em; margin: 0 0.06em; border-radius: 0.35em; vertical-align: 0.12em; line-height: 1.35;
  background: var(--color-accent-soft); color: var(--color-accent) !important; border: 1px solid var(--color-accent); }
#hc-chat a[href^="#cite-"]:hover { background: var(--color-accent); color: white !important; }
#hc-chat blockquote { margin: 0.6em 0 0; padding: 0.3em 0.7em; border-left: 3px solid #d97706; background: rgba(217,119,6,0.08); }
.hc-status { min-height: 1.6rem; font-size: 0.92rem; color: var(--body-text-color-subdued); display: flex; align-items: center; gap: 0.5rem; padding: 0 0.3rem; }
.hc-spinner { width: 0.9rem; height: 0.9rem; border: 2px solid var(--border-color-primary); border-top-color: var(--color-accent);
  border-radius: 50%; animation: hc-spin 0.8s linear infinite; }
@keyframes hc-spin { to { transform: rotate(360deg); } }
#hc-tools { justify-content: flex-start; }
#hc-tools button, #hc-tools a { max-width: 14rem; }
.hc-sources h3 { margin: 0.2rem 0 0.5rem; font-size: 1.05rem; }
.hc-sources.hc-empty p { color: var(--body-text-color-subdued); font-size: 0.92rem; }
.hc-group { margin-bottom: 0.8rem; }
.hc-group h4, .hc-group > summary { font-size: 0.88rem; font-weight: 600; color: var(--body-text-color-subdued); margin: 0.3rem 0; cursor: pointer; }
.hc-q { color: var(--body-text-color); font-style: italic; }
.hc-reading-note { font-size: 0.85rem; color: var(--body-text-color-subdued); margin: 0.2rem 0; }
""" + SOURCE_CARD_CSS + """.hc-review-answer { padding: 0.6rem 0.2rem; }
.hc-review-answer .hc-question { margin: 0.3rem 0; }
.hc-answer-text { white-space: pre-wrap; line-height: 1.5; padding: 0.5rem 0.7rem; background: var(--background-fill-secondary); border-radius: 0.5rem; }
.hc-note { margin-top: 0.4rem; color: #b45309; }
.hc-standalone { font-size: 0.85rem; color: var(--body-text-color-subdued); margin-bottom: 0.3rem; }
.hc-sentence-box { margin-top: 0.6rem; }
.hc-review-sentence { padding: 0.6rem 0.8rem; }
.hc-sentence { font-weight: 600; line-height: 1.5; }
.hc-idx { color: var(--color-accent); margin-right: 0.25rem; }
.hc-check, .hc-current { font-size: 0.88rem; margin-top: 0.3rem; }
.hc-none, .hc-hint, .hc-when { color: var(--body-text-color-subdued); }
.hc-pruned { font-size: 0.88rem; color: var(--body-text-color-subdued); margin: 0.3rem 0; text-decoration-line: none; }
.hc-unmatched { font-size: 0.88rem; color: var(--error-text-color, #b91c1c); margin: 0.2rem 0; }
.hc-review-passage { margin-top: 0.5rem; }
.hc-badge { display: inline-block; padding: 0 0.45em; border-radius: 0.5em; font-size: 0.8rem; font-weight: 600; margin-right: 0.3rem; }
.hc-v-supported { background: #dcfce7; color: #166534; }
.hc-v-weak { background: #fef9c3; color: #854d0e; }
.hc-v-unsupported, .hc-v-uncited { background: #fee2e2; color: #991b1b; }
.hc-v-not_a_claim { background: var(--background-fill-secondary); color: var(--body-text-color-subdued); }
.hc-download { font-weight: 600; }
.hc-charts { display: flex; flex-wrap: wrap; gap: 0.8rem; }
.hc-chart { margin: 0; color: var(--color-accent); }
.hc-chart figcaption { font-size: 0.85rem; font-weight: 600; color: var(--body-text-color); }
.hc-chart text { fill: var(--body-text-color-subdued); }
.hc-gaps { padding-left: 0; list-style: none; }
.hc-gap { padding: 0.5rem 0.7rem; margin-bottom: 0.5rem; background: var(--background-fill-secondary); border-radius: 0.5rem; }
.hc-gap-head, .hc-closest { font-size: 0.88rem; }
.hc-typical { margin: 0.3rem 0; font-style: italic; }
.hc-confusion, .hc-weekly { border-collapse: collapse; margin: 0.4rem 0; font-size: 0.88rem; }
.hc-confusion th, .hc-confusion td, .hc-weekly th, .hc-weekly td { border: 1px solid var(--border-color-primary); padding: 0.2rem 0.5rem; text-align: right; }
.hc-disabled { max-width: 44rem; margin: 2rem auto; line-height: 1.55; }
.hc-disabled pre { padding: 0.6rem; background: var(--background-fill-secondary); border-radius: 0.4rem; white-space: pre-wrap; }
"""
