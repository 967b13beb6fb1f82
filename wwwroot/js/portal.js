// Small browser helpers for Portal's Blazor components. Kept dependency-free.
window.portal = {
  // Enter sends, Shift+Enter (or an IME composition) inserts a new line.
  attachComposer(scroller) {
    const section = scroller && scroller.closest('section');
    const input = section && section.querySelector('textarea[data-portal-composer]');
    if (!input || input.dataset.portalAttached) return;
    input.dataset.portalAttached = 'true';
    input.addEventListener('keydown', e => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        // The server re-enables the Send button only after it has seen the text, which may be a round trip
        // behind the keyboard; so decide here, and let the server check again.
        const form = input.form;
        if (form && input.value.trim() && form.dataset.busy !== 'true') form.requestSubmit();
      }
    });
    if (scroller) {
      scroller.addEventListener('scroll', () => {
        scroller.dataset.stick = (scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight) < 80 ? 'true' : 'false';
      }, { passive: true });
    }
    input.focus();
  },

  // The theme chosen in the top bar, for the next page loads (read by the server before the first paint).
  rememberTheme(theme) {
    document.cookie = `portal-theme=${encodeURIComponent(theme)}; path=/; max-age=31536000; samesite=lax`;
    document.documentElement.dataset.theme = theme.endsWith('-dark') ? 'dark' : 'light';
  },

  // Copies a code block's text; the buttons are written by the Markdown renderer beside each block.
  copyCode(button) {
    const code = button.closest('.chat-code')?.querySelector('pre');
    if (code) window.portal.copyFrom(code, button);
  },

  // Copies the text of the element a button names in data-copy-text (a CSS selector), e.g. a token shown once.
  copyText(button) {
    const source = document.querySelector(button.dataset.copyText);
    if (source) window.portal.copyFrom(source, button);
  },

  async copyFrom(node, button) {
    const text = node.innerText;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const range = document.createRange();
      range.selectNodeContents(node);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      document.execCommand('copy');
      selection.removeAllRanges();
    }
    const label = button.querySelector('span') || button;
    const original = button.dataset.copyLabel ??= label.textContent; // a second click within 1.5 s keeps the first label
    label.textContent = 'Copied';
    button.dataset.copied = 'true';
    setTimeout(() => { label.textContent = original; delete button.dataset.copied; }, 1500);
  },

  // Keeps the newest message in view unless the reader scrolled up to read older ones.
  stickToBottom(scroller, force) {
    if (!scroller) return;
    if (force || scroller.dataset.stick !== 'false') {
      scroller.scrollTop = scroller.scrollHeight;
    }
  },
};

// One listener for every copy button, present and future (messages render after load and while streaming).
document.addEventListener('click', e => {
  const button = e.target.closest && e.target.closest('button[data-copy-code], button[data-copy-text]');
  if (!button) return;
  if (button.hasAttribute('data-copy-code')) window.portal.copyCode(button);
  else window.portal.copyText(button);
});
