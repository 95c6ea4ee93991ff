/* dovecote's service worker: shows pushes, opens their link on a click,
   and registers the new subscription when the push service replaces one. */
"use strict";

const PUBLIC_KEY_URL = "{{ public_key_url|escapejs }}";
const SUBSCRIBE_URL = "{{ subscribe_url|escapejs }}";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let payload = {};
  if (event.data) {
    try {
      payload = event.data.json();
    } catch (error) {
      payload = { body: event.data.text() };
    }
  }
  const options = {
    body: payload.body || "",
    data: { url: payload.url || "", data: payload.data || {} },
  };
  if (payload.icon) options.icon = payload.icon;
  if (payload.tag) options.tag = payload.tag;
  event.waitUntil(self.registration.showNotification(payload.title || "", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = event.notification.data && event.notification.data.url;
  if (url) event.waitUntil(openWindow(new URL(url, self.location.origin).href));
});

async function openWindow(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (client.url === url && "focus" in client) return client.focus();
  }
  return self.clients.openWindow(url);
}

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(resubscribe(event.oldSubscription, event.newSubscription));
});

async function resubscribe(oldSubscription, newSubscription) {
  // The key endpoint also hands out the CSRF token: a worker cannot read cookies.
  const response = await fetch(PUBLIC_KEY_URL, { credentials: "same-origin" });
  const { publicKey, csrfToken } = await response.json();
  const subscription =
    newSubscription ||
    (await self.registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: publicKey,
    }));
  await fetch(SUBSCRIBE_URL, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
    body: JSON.stringify({
      subscription: subscription.toJSON(),
      replaces: oldSubscription ? oldSubscription.endpoint : null,
    }),
  });
}
