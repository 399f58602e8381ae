// Starts the console's first two requests, who-am-I and the saved
// namespace's job list, while the application itself still loads: a small
// classic script, run as soon as the page's HTML is parsed (a separate
// file, as the console's Content-Security-Policy allows no inline script).
// The application takes the answers over once (src/api.ts), or asks again
// when they are missing, old or failed.
(function () {
  try {
    var path = window.location.pathname;
    if (path !== '/' && path !== '/index.html') return;
    var token = window.sessionStorage.getItem('mpijob-console-token');
    var namespace = window.localStorage.getItem('mpijob-console-namespace');
    var headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    var get = function (url) {
      return fetch(url, { headers: headers });
    };
    window.__mpijobConsolePrefetch = {
      at: Date.now(),
      token: token,
      namespace: namespace,
      whoami: get('/api/v1/whoami'),
      // The list page's first view (FIRST_PAGE in src/api.ts) of the saved
      // namespace, or of every namespace when "" is saved.
      list:
        namespace === null
          ? null
          : get((namespace ? '/api/v1/namespaces/' + encodeURIComponent(namespace) : '/api/v1') + '/trainingjobs?page=1&perPage=20'),
    };
  } catch (e) {
    // The application asks for itself.
  }
})();
