// hubchat's chat widget for a site's article pages. Put on the page:
//   <script src="https://CHAT-HOST/widget/embed.js" async></script>
// Optional attributes on that tag: data-article="the article's address" (default: the page's canonical link, else
// its own address), data-label="button text", data-open="true" (open at once).
// The chat runs in a frame served by hubchat; the site's origin must be listed in ui.embed_origins.
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || window.hubchatWidget) { return; }
  var canonical = document.querySelector('link[rel="canonical"]');
  var article = script.getAttribute('data-article') || (canonical && canonical.href) || location.href;
  var frameUrl = new URL('./', script.src);
  frameUrl.searchParams.set('page', article);
  var label = script.getAttribute('data-label') || 'Ask about this article';
  var css = [
    '.hubchat-launcher{position:fixed;right:16px;bottom:16px;z-index:2147483000;font:600 15px/1.2 system-ui,sans-serif;',
    'color:#fff;background:#4f46e5;border:0;border-radius:999px;padding:12px 18px;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}',
    '.hubchat-panel{position:fixed;right:16px;bottom:76px;z-index:2147483001;width:400px;height:min(640px,calc(100vh - 96px));',
    'max-width:calc(100vw - 32px);display:flex;flex-direction:column;background:#fff;border-radius:14px;overflow:hidden;',
    'box-shadow:0 10px 40px rgba(0,0,0,.3)}',
    '.hubchat-panel[hidden]{display:none}',
    '.hubchat-bar{display:flex;align-items:center;justify-content:space-between;padding:6px 8px 6px 14px;background:#4f46e5;color:#fff;',
    'font:600 14px/1.2 system-ui,sans-serif}',
    '.hubchat-close{font:600 20px/1 system-ui,sans-serif;color:#fff;background:none;border:0;cursor:pointer;min-width:40px;min-height:36px}',
    '.hubchat-frame{flex:1;width:100%;border:0}',
    '@media (max-width:600px){.hubchat-panel{inset:0;width:100%;max-width:none;height:100%;border-radius:0}}'
  ].join('');

  function mount() {
    var style = document.createElement('style');
    style.textContent = css;
    document.head.append(style);
    var launcher = document.createElement('button');
    launcher.type = 'button';
    launcher.className = 'hubchat-launcher';
    launcher.textContent = label;
    launcher.setAttribute('aria-expanded', 'false');
    var panel = document.createElement('div');
    panel.className = 'hubchat-panel';
    panel.hidden = true;
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', label);
    var bar = document.createElement('div');
    bar.className = 'hubchat-bar';
    bar.append(document.createTextNode(label));
    var close = document.createElement('button');
    close.type = 'button';
    close.className = 'hubchat-close';
    close.setAttribute('aria-label', 'Close');
    close.textContent = '×';
    bar.append(close);
    panel.append(bar);
    var frame = null;

    function toggle(open) {
      if (open && !frame) {  // the frame loads on first open: a page view that never asks costs the chat nothing
        frame = document.createElement('iframe');
        frame.className = 'hubchat-frame';
        frame.title = label;
        frame.src = frameUrl.href;
        panel.append(frame);
      }
      panel.hidden = !open;
      launcher.setAttribute('aria-expanded', String(open));
    }
    launcher.addEventListener('click', function () { toggle(panel.hidden); });
    close.addEventListener('click', function () { toggle(false); launcher.focus(); });
    document.body.append(panel, launcher);
    window.hubchatWidget = {open: function () { toggle(true); }, close: function () { toggle(false); }};
    if (script.getAttribute('data-open') === 'true') { toggle(true); }
  }

  if (document.body) { mount(); } else { document.addEventListener('DOMContentLoaded', mount); }
})();
