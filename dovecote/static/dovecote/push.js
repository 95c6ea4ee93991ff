/* dovecote push: subscribe this browser to Web Push notifications, or stop.
   <script src="{% static 'dovecote/push.js' %}" data-key-url="..."
   data-subscribe-url="..." data-unsubscribe-url="..." data-worker-url="...">
   Buttons with data-dovecote-push="subscribe" or "unsubscribe" work by
   themselves; window.dovecotePush.subscribe() and .unsubscribe() return
   promises. Each outcome is written to [data-dovecote-push-status] and sent
   as a "dovecote:push" event on document. */
(function () {
  "use strict";
  const script = document.currentScript;
  const config = script.dataset;

  function isSupported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  async function post(url, body, csrfToken) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
    return data;
  }

  async function serverKeys() {
    const response = await fetch(config.keyUrl, { credentials: "same-origin" });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
    return data;
  }

  function activated(worker) {
    return new Promise((resolve, reject) => {
      if (worker.state === "activated") return resolve();
      worker.addEventListener("statechange", () => {
        if (worker.state === "activated") resolve();
        if (worker.state === "redundant") reject(new Error("The service worker failed to start."));
      });
    });
  }

  async function registration() {
    const found = await navigator.serviceWorker.register(config.workerUrl);
    await activated(found.installing || found.waiting || found.active);
    return found;
  }

  async function subscribe() {
    if (!isSupported()) throw new Error("This browser cannot receive push notifications.");
    if ((await Notification.requestPermission()) !== "granted") {
      throw new Error("Notifications are blocked for this site in the browser's settings.");
    }
    const keys = await serverKeys();
    const found = await registration();
    const subscription = await found.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keys.publicKey,
    });
    return post(
      config.subscribeUrl,
      { subscription: subscription.toJSON(), name: navigator.userAgent },
      keys.csrfToken
    );
  }

  async function unsubscribe() {
    const found = isSupported() && (await navigator.serviceWorker.getRegistration(config.workerUrl));
    const subscription = found && (await found.pushManager.getSubscription());
    if (!subscription) return { removed: 0 };
    const keys = await serverKeys();
    const result = await post(config.unsubscribeUrl, { endpoint: subscription.endpoint }, keys.csrfToken);
    await subscription.unsubscribe();
    return result;
  }

  function report(action, ok, detail) {
    const status = document.querySelector("[data-dovecote-push-status]");
    if (status) status.textContent = ok ? status.dataset[action + "Done"] || "" : detail.message;
    document.dispatchEvent(new CustomEvent("dovecote:push", { detail: { action, ok, detail } }));
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-dovecote-push]");
    if (!button) return;
    event.preventDefault();
    const action = button.dataset.dovecotePush;
    const run = action === "unsubscribe" ? unsubscribe : subscribe;
    button.disabled = true;
    run()
      .then((result) => report(action, true, result), (error) => report(action, false, error))
      .finally(() => {
        button.disabled = false;
      });
  });

  window.dovecotePush = { isSupported, subscribe, unsubscribe };
})();
