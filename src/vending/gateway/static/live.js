// The WebSocket session: sends requests, resolves each with its status, and hands pushed
// changes to the page. After a dropped connection it reconnects and requests the status of
// every request that was accepted but had no status yet.

const SIGNED_OUT = 4001;

export class Live {
  // `handlers`: onWelcome(user), onPush(message), onLink(state), onSignedOut(detail).
  constructor(token, handlers) {
    this.token = token;
    this.handlers = handlers;
    this.pending = new Map();
    this.nextRef = 1;
    this.retryDelay = 500;
    this.stopped = false;
    this.socket = null;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    this.socket = socket;
    this.handlers.onLink("connecting");
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ op: "auth", token: this.token, ref: "auth" }));
    });
    socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => this.closed(event));
  }

  // Send a request; resolves to its final status `{state, result}` or `{state, error}`.
  // `onAccepted` runs when the machine has queued the request.
  request(op, fields = {}, onAccepted = () => {}) {
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve) => {
      this.pending.set(ref, { resolve, onAccepted, reqId: null });
      if (!this.isOpen()) {
        this.settle(ref, offline());
        return;
      }
      this.socket.send(JSON.stringify({ op, ref, ...fields }));
    });
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000);
  }

  isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN && this.ready;
  }

  receive(message) {
    if (this.stopped) return;
    switch (message.type) {
      case "welcome":
        this.ready = true;
        this.retryDelay = 500;
        this.handlers.onLink("live");
        this.handlers.onWelcome(message.user);
        this.recover();
        break;
      case "accepted": {
        const entry = this.pending.get(message.ref);
        if (entry) {
          entry.reqId = message.req_id;
          entry.onAccepted(message.req_id);
        }
        break;
      }
      case "status":
        if (message.state !== "queued") this.settle(message.ref, message);
        break;
      case "error":
        if (message.ref === "auth") {
          this.stopped = true;
          this.handlers.onSignedOut(message.error);
        } else {
          this.settle(message.ref, { state: "failed", error: message.error });
        }
        break;
      case "signed_out":
        this.stopped = true;
        this.handlers.onSignedOut({ code: "unauthorized", detail: message.detail });
        break;
      default:
        this.handlers.onPush(message);
    }
  }

  settle(ref, status) {
    const entry = this.pending.get(ref);
    if (!entry) return;
    this.pending.delete(ref);
    entry.resolve(status);
  }

  // Ask again for the requests that were accepted before the connection dropped.
  recover() {
    for (const [ref, entry] of this.pending) {
      if (entry.reqId) this.socket.send(JSON.stringify({ op: "status", req_id: entry.reqId, ref }));
    }
  }

  closed(event) {
    this.ready = false;
    this.handlers.onLink("offline");
    for (const [ref, entry] of this.pending) {
      // A request without an acceptance may or may not have been queued. Sending it again
      // could apply it twice, so it is reported as lost; the new welcome shows the credit.
      if (!entry.reqId) this.settle(ref, offline());
    }
    if (event.code === SIGNED_OUT || this.stopped) return;
    setTimeout(() => this.connect(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, 5000);
  }
}

function offline() {
  return {
    state: "failed",
    error: { code: "OFFLINE", detail: "The connection to the machine dropped. Please try again" },
  };
}
