// The two bodies of a forwarded request, each wrapped in a JS stream.
//
// The response's, so the proxy knows when it has ended: until then the request
// is in flight (it holds a slot of its preview's limit and keeps the preview
// awake, as an open WebSocket does). Wrapping it also keeps the response as
// the app sent it: Bun.serve gives a body taken over from fetch, when it has
// no Content-Type, `application/octet-stream` (browsers then download the
// page instead of showing it); a JS stream gets no such default (Bun 1.4.5).
//
// The request's, so a client that sends its body too slowly is cut off: it
// has `graceMs` plus one second per KiB it sent (Apache's mod_reqtimeout
// MinRate rule). nginx's rule, a timeout between two reads, lets a client that
// sends a byte every 5 s hold a connection to the app for ever.

/** A response whose body calls `onEnd` once: when it is done, fails or is cancelled (the client left). */
export function trackResponse(res: Response, onEnd: () => void): Response {
  const body = res.body;
  if (!body) {
    onEnd();
    return res;
  }
  const reader = body.getReader();
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            onEnd();
            c.close();
          } else c.enqueue(value);
        } catch (err) {
          onEnd();
          c.error(err);
        }
      },
      cancel(reason) {
        onEnd();
        return reader.cancel(reason);
      },
    },
    // Read from the app only as fast as the client takes it (backpressure, bounded memory).
    { highWaterMark: 0 },
  );
  return new Response(stream, { status: res.status, statusText: res.statusText, headers: res.headers });
}

export interface BodyDeadline {
  body: ReadableStream<Uint8Array>;
  /** Whether the deadline cut the body off. */
  readonly expired: boolean;
  /** Stops the timer (the request is over). */
  stop(): void;
}

/** The request body, failing once it arrives slower than `graceMs` + 1 s per KiB. */
export function withDeadline(body: ReadableStream<Uint8Array>, graceMs: number): BodyDeadline {
  const reader = body.getReader();
  const started = Date.now();
  let received = 0;
  let expired = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const arm = () => {
    clearTimeout(timer);
    const deadline = started + graceMs + received; // received bytes / (1 KiB/s) ≈ received ms
    timer = setTimeout(() => {
      expired = true;
      const err = new Error("request body too slow");
      controller.error(err);
      void reader.cancel(err).catch(() => {});
    }, Math.max(0, deadline - Date.now()));
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        arm();
      },
      async pull(c) {
        try {
          const { done, value } = await reader.read();
          if (expired) return;
          if (done) {
            clearTimeout(timer);
            c.close();
            return;
          }
          received += value.byteLength;
          arm();
          c.enqueue(value);
        } catch (err) {
          clearTimeout(timer);
          if (!expired) c.error(err);
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return {
    body: stream,
    get expired() {
      return expired;
    },
    stop: () => clearTimeout(timer),
  };
}
