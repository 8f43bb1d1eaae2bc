package webhooks

import (
	"net/http"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

// zalo receives POST /webhooks/zalo and /webhooks/zalo/{id}. The signature's
// key is the OA's secret key, so the edge first reads just enough of the body
// to find the OA, then verifies, then decodes. Zalo disables a webhook that
// keeps failing, and the webhook belongs to the app (all its OAs): an event
// for an OA that is not connected is answered 200 and dropped, since it
// cannot be verified and so must not be stored.
func (h *Handler) zalo(w http.ResponseWriter, r *http.Request) {
	const p = schematype.PlatformZalo
	var byPath *route
	if id := r.PathValue("id"); id != "" {
		conn, err := h.router.connection(r.Context(), id)
		if err != nil {
			h.unavailable(w, r, p, err)
			return
		}
		if conn == nil || conn.platform != p {
			h.reject(w, r, p, nil, http.StatusNotFound, "no such Zalo connection")
			return
		}
		byPath = conn
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	env, err := zalo.Peek(body)
	if err != nil {
		h.reject(w, r, p, byPath, http.StatusBadRequest, err.Error())
		return
	}
	conn := byPath
	if conn == nil || !conn.live {
		if conn, err = h.router.account(r.Context(), p, env.OAID); err != nil {
			h.unavailable(w, r, p, err)
			return
		}
	}
	if conn == nil || !conn.live || conn.externalID != env.OAID {
		counters.Add(string(p)+".unconnected", 1)
		h.log.WarnContext(r.Context(), "zalo webhook for an OA that is not connected; dropped", "oa", env.OAID, "event", env.EventName)
		w.WriteHeader(http.StatusOK)
		return
	}
	if !zalo.VerifySignature(env, body, conn.secret, r.Header.Get(zalo.SignatureHeader)) {
		h.reject(w, r, p, conn, http.StatusUnauthorized, "missing or wrong X-ZEvent-Signature")
		return
	}
	frags, err := zalo.Split(body)
	if err != nil {
		h.reject(w, r, p, conn, http.StatusBadRequest, err.Error())
		return
	}
	h.store(w, r, p, entries(p, conn, frags, ""), "")
}
