// Login links carry their one-time token in the fragment (#...), which browsers never send to a
// server, so it stays out of request lines, proxy logs and Referer headers. This moves it into
// the sign-in form, drops it from the address bar and history, and posts the form.
(function () {
  "use strict";
  var token = window.location.hash.slice(1);
  if (!token) {
    return;
  }
  window.history.replaceState(null, "", window.location.pathname);
  var form = document.getElementById("login-link");
  form.elements.token.value = token;
  form.submit();
})();
