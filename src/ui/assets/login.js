// The login page: turns an admin API token into the session cookie
// (POST /ui/login). The token goes in the request body only, never a URL.
'use strict';

// A deferred script runs once the document is parsed: attach at once (and
// say so on <body>, which the browser test waits for).
(() => {
  const form = document.getElementById('login');
  const error = document.getElementById('login-error');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    const input = document.getElementById('token');
    let res;
    try {
      res = await fetch('/ui/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({token: input.value.trim()}),
      });
    } catch (e) {
      error.textContent = 'The server cannot be reached.';
      error.hidden = false;
      return;
    }
    input.value = '';
    if (res.ok) {
      window.location.assign('/ui/');
      return;
    }
    let detail = 'Login refused (' + res.status + ').';
    try {
      const problem = await res.json();
      if (problem.detail) detail = problem.detail;
    } catch (e) { /* not JSON */ }
    error.textContent = detail;
    error.hidden = false;
  });
  document.body.dataset.ready = 'login';
})();
