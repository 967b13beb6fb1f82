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
  // Written here because the toggle runs in the circuit, which cannot set cookies; it names a theme, nothing secret,
  // so it is not HttpOnly, and it is Secure whenever the page is on HTTPS.
  rememberTheme(theme) {
    const secure = location.protocol === 'https:' ? '; secure' : '';
    document.cookie = `portal-theme=${encodeURIComponent(theme)}; path=/; max-age=31536000; samesite=lax${secure}`;
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

  // Sign-in with Google: only on a sign-in page that has the button's place (data-google-client-id), load Google
  // Identity Services, render its button there, and post the ID token it returns through Portal's own form (which
  // carries Portal's antiforgery token). Popup mode, so that post is same-origin.
  initGoogleSignIn() {
    const place = document.querySelector('[data-google-client-id]');
    const form = document.getElementById('portal-google-form');
    if (!place || !form || place.dataset.portalAttached) return;
    place.dataset.portalAttached = 'true';
    const start = () => {
      google.accounts.id.initialize({
        client_id: place.dataset.googleClientId,
        ux_mode: 'popup',
        context: 'signin',
        callback: response => {
          form.elements.credential.value = response.credential;
          const remember = document.querySelector('input[name="Input.RememberMe"]');
          form.elements.remember.value = remember && remember.checked ? 'true' : 'false';
          form.submit();
        },
      });
      google.accounts.id.renderButton(place, { type: 'standard', theme: 'outline', size: 'large', text: 'signin_with', width: Math.min(place.clientWidth || 320, 400) });
    };
    if (window.google && google.accounts && google.accounts.id) {
      start();
      return;
    }
    const script = document.createElement('script');
    script.src = 'https://accounts.google.com/gsi/client';
    script.async = true;
    script.onload = start;
    script.onerror = () => {
      const note = place.parentElement.querySelector('[data-google-unavailable]');
      if (note) note.hidden = false;
    };
    document.head.appendChild(script);
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

// The Google button on a sign-in page, whether it was loaded in full or by enhanced navigation (which runs no scripts).
if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', () => window.portal.initGoogleSignIn());
} else {
  window.portal.initGoogleSignIn();
}
if (window.Blazor && window.Blazor.addEventListener) {
  window.Blazor.addEventListener('enhancedload', () => window.portal.initGoogleSignIn());
}
