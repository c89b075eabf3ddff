// Events to the page's own origin, for a notebook following this viewer (DESIGN §5). Active only
// when the URL carries viewerId and viewerToken (a registered viewer); otherwise every call is a
// no-op. Payload keys are exactly the Cellucid event shapes plus viewerId and viewerToken.
// A 403 or 404 (wrong token, unknown or expired viewer) switches the channel off: every later
// post would be refused the same way.

export class EventChannel {
  constructor(params, onError) {
    this.viewerId = params.get("viewerId");
    this.viewerToken = params.get("viewerToken");
    this.enabled = Boolean(this.viewerId && this.viewerToken);
    this.onError = onError;
  }

  query(extra) {
    return new URLSearchParams({ viewerId: this.viewerId, viewerToken: this.viewerToken, ...extra });
  }

  async post(url, body, contentType) {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": contentType },
        body,
      });
      if (response.status === 403 || response.status === 404) {
        this.enabled = false;
        throw new Error("this viewer link is no longer valid; nothing more is sent");
      }
      if (!response.ok) {
        const detail = await response.text();
        throw new Error(`${new URL(url, location.href).pathname} answered ${response.status}: ${detail.slice(0, 200)}`);
      }
      return true;
    } catch (error) {
      this.onError(error);
      return false;
    }
  }

  // type "ready" {n_cells, dimensions} | "hover" {cell, position} | "click" {cell, button, shift, ctrl}
  send(type, fields) {
    if (!this.enabled) return Promise.resolve(false);
    const body = JSON.stringify({ type, viewerId: this.viewerId, viewerToken: this.viewerToken, ...fields });
    return this.post("/_cellucid/events", body, "application/json");
  }

  // cells: Uint32Array, strictly ascending, at least one; the body is their u32 LE bytes.
  sendSelection(cells, source) {
    if (!this.enabled || !cells?.length) return Promise.resolve(false);
    return this.post(`/_cellucid/selection?${this.query({ source })}`, cells, "application/octet-stream");
  }

  sendSessionBundle(bytes, requestId) {
    if (!this.enabled) return Promise.resolve(false);
    return this.post(
      `/_cellucid/session_bundle?${this.query({ requestId })}`,
      bytes,
      "application/octet-stream",
    );
  }
}
