package webhooks

// Following is closed once h follows connection changes in the event log:
// a test that relies on what the edge cached waits for it, since the
// subscription starting drops the routes cached before.
func Following(h *Handler) <-chan struct{} { return h.following }
