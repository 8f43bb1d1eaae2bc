package webhooks

import (
	"net/http"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform/telegram"
)

// telegram receives POST /webhooks/telegram/{id}. The URL names the
// connection, so the connection is settled before the secret: an unknown id
// is 404 and a disconnected one 410 (disconnecting erased the secret, and
// Telegram closes a webhook that answers 410 for a day).
func (h *Handler) telegram(w http.ResponseWriter, r *http.Request) {
	const p = schematype.PlatformTelegram
	conn, err := h.router.connection(r.Context(), r.PathValue("id"))
	switch {
	case err != nil:
		h.unavailable(w, r, p, err)
		return
	case conn == nil:
		h.reject(w, r, p, nil, http.StatusNotFound, "no such connection")
		return
	case conn.platform != p:
		h.reject(w, r, p, nil, http.StatusNotFound, "not a Telegram connection")
		return
	case !conn.live:
		h.reject(w, r, p, nil, http.StatusGone, "connection disconnected")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if !telegram.VerifySecret(r.Header.Get(telegram.SecretHeader), conn.secret) {
		h.reject(w, r, p, conn, http.StatusUnauthorized, "missing or wrong secret token")
		return
	}
	frags, err := telegram.Split(body)
	if err != nil {
		h.reject(w, r, p, conn, http.StatusBadRequest, err.Error())
		return
	}
	h.store(w, r, p, entries(p, conn, frags, ""), "")
}
