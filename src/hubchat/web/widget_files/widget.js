// The widget page: asks /widget/api/ask and shows the answer as it streams (NDJSON events, one per line).
// Everything shown is either text set through textContent or HTML the server built and escaped.
(function () {
  'use strict';
  var MAX_TURNS = 4;  // earlier turns sent with a follow-up: enough to resolve "it" and "the second one"
  var body = document.body;
  var page = body.getAttribute('data-page') || '';
  var articleTitle = body.getAttribute('data-article-title') || '';
  var found = body.getAttribute('data-article-found') === '1';
  var $ = function (id) { return document.getElementById(id); };
  var log = $('hcw-log'), form = $('hcw-form'), input = $('hcw-question'), send = $('hcw-send');
  var statusLine = $('hcw-status'), wide = $('hcw-wide'), scopeLine = $('hcw-scope');
  var turns = [], conversation = newId(), busy = false;

  function newId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? '0' : '') + b.toString(16); }).join('');
  }

  function element(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function scope() { return found && !wide.checked ? 'article' : 'site'; }

  function showScope() {
    scopeLine.textContent = '';
    if (scope() === 'article') {
      scopeLine.append('About this article: ');
      scopeLine.append(element('b', '', articleTitle));
    } else {
      scopeLine.textContent = found ? 'Asking all the site’s articles' : 'Asking the site’s articles';
    }
  }

  function readEvents(response, onEvent) {
    var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = '';
    function pump() {
      return reader.read().then(function (chunk) {
        buffer += decoder.decode(chunk.value || new Uint8Array(), {stream: !chunk.done});
        var lines = buffer.split('\n');
        buffer = chunk.done ? '' : lines.pop();
        lines.forEach(function (line) { if (line.trim()) { onEvent(JSON.parse(line)); } });
        return chunk.done ? null : pump();
      });
    }
    return pump();
  }

  function feedbackButtons(answerId) {
    var row = element('div', 'hcw-actions');
    [['Helpful', true], ['Not helpful', false]].forEach(function (choice) {
      var button = element('button', '', choice[0]);
      button.type = 'button';
      button.setAttribute('aria-pressed', 'false');
      button.addEventListener('click', function () {
        fetch('api/feedback', {method: 'POST', headers: {'content-type': 'application/json'},
          body: JSON.stringify({answer_id: answerId, helpful: choice[1]})}).then(function (r) {
          if (r.ok) { row.querySelectorAll('button').forEach(function (b) { b.setAttribute('aria-pressed', String(b === button)); }); }
        });
      });
      row.append(button);
    });
    return row;
  }

  function ask(question, askScope) {
    if (busy || !question.trim()) { return; }
    busy = true;
    send.disabled = true;
    var intro = $('hcw-intro');
    if (intro) { intro.remove(); }
    log.append(element('div', 'hcw-q', question));
    var box = element('div', 'hcw-a hcw-writing'), text = element('div', 'hcw-text'), reading = element('div');
    box.append(text, reading);
    log.append(box);
    box.scrollIntoView({block: 'end'});
    statusLine.textContent = 'Sending the question…';
    var partial = '';
    fetch('api/ask', {
      method: 'POST', headers: {'content-type': 'application/json'},
      body: JSON.stringify({question: question, history: turns.slice(-MAX_TURNS), page: page, scope: askScope,
        conversation_id: conversation})
    }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (e) { throw new Error(e.detail || ('The server answered ' + response.status)); },
          function () { throw new Error('The server answered ' + response.status + '.'); });
      }
      return readEvents(response, function (event) {
        if (event.type === 'status') {
          statusLine.textContent = event.text;
        } else if (event.type === 'passages') {
          reading.innerHTML = event.html;
        } else if (event.type === 'token') {
          partial += event.text;
          text.textContent = partial;
          statusLine.textContent = 'Writing the answer…';
        } else if (event.type === 'final') {
          box.classList.remove('hcw-writing');
          box.innerHTML = event.answer_html + event.sources_html;
          box.setAttribute('data-answer-id', event.answer_id);
          if (!event.refused) { turns.push({question: question, answer: event.text}); }
          var actions = feedbackButtons(event.answer_id);
          if (event.refused && event.scope === 'article') {
            var wider = element('button', '', 'Ask all the site’s articles');
            wider.type = 'button';
            wider.addEventListener('click', function () { wider.disabled = true; ask(question, 'site'); });
            actions.prepend(wider);
          }
          box.append(actions);
        } else if (event.type === 'error') {
          throw new Error(event.message);
        }
      });
    }).catch(function (error) {
      box.classList.remove('hcw-writing');
      box.textContent = '';
      box.append(element('div', 'hcw-text hcw-error', 'The answer could not be made: ' + error.message +
        ' Your conversation is kept; try again in a moment.'));
    }).finally(function () {
      busy = false;
      send.disabled = false;
      statusLine.textContent = '';
      box.scrollIntoView({block: 'nearest'});
    });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var question = input.value;
    input.value = '';
    ask(question, scope());
  });
  input.addEventListener('keydown', function (event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) { event.preventDefault(); form.requestSubmit(); }
  });
  wide.addEventListener('change', showScope);
  $('hcw-new').addEventListener('click', function () {
    if (busy) { return; }
    turns = [];
    conversation = newId();
    log.textContent = '';
    input.focus();
  });
  if (!found) { $('hcw-wide-label').hidden = true; }
  showScope();
})();
