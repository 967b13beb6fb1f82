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

  // Keeps the newest message in view unless the reader scrolled up to read older ones.
  stickToBottom(scroller, force) {
    if (!scroller) return;
    if (force || scroller.dataset.stick !== 'false') {
      scroller.scrollTop = scroller.scrollHeight;
    }
  },
};
