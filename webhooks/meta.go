package webhooks

import (
	"io"
	"net/http"

	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/inbound"
	"github.com/switchboard-chat/switchboard/journal"
	"github.com/switchboard-chat/switchboard/platform/facebook"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
)

// Messenger and WhatsApp webhooks are one app-level URL each, signed with the
// app secret, with entries routed by page id / phone_number_id.

func (h *Handler) metaSecrets(p schematype.Platform) (appSecret, verifyToken string) {
	if p == schematype.PlatformWhatsApp {
		return h.opt.WhatsAppAppSecret, h.opt.WhatsAppVerifyToken
	}
	return h.opt.FacebookAppSecret, h.opt.FacebookVerifyToken
}

// metaChallenge answers the subscription handshake with the raw challenge.
func (h *Handler) metaChallenge(p schematype.Platform) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, token := h.metaSecrets(p)
		challenge, ok := graphapi.VerifyChallenge(r.URL.Query(), token)
		if !ok {
			h.reject(w, r, p, nil, http.StatusForbidden, "wrong or missing hub.verify_token")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, challenge)
	}
}

func (h *Handler) meta(p schematype.Platform) http.HandlerFunc {
	split := facebook.Split
	if p == schematype.PlatformWhatsApp {
		split = whatsapp.Split
	}
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		secret, _ := h.metaSecrets(p)
		if !graphapi.VerifySignature(secret, body, r.Header.Get(graphapi.SignatureHeader)) {
			h.reject(w, r, p, nil, http.StatusUnauthorized, "missing or wrong X-Hub-Signature-256")
			return
		}
		frags, err := split(body)
		if err != nil {
			h.reject(w, r, p, nil, http.StatusBadRequest, err.Error())
			return
		}
		// Entries of several pages or numbers may come in one request.
		var all []journal.Entry
		byAccount := map[string][]inbound.Fragment{}
		var order []string
		for _, f := range frags {
			if _, seen := byAccount[f.Account]; !seen {
				order = append(order, f.Account)
			}
			byAccount[f.Account] = append(byAccount[f.Account], f)
		}
		for _, acct := range order {
			conn, err := h.router.account(r.Context(), p, acct)
			if err != nil {
				h.unavailable(w, r, p, err)
				return
			}
			if conn == nil {
				// Answering anything but 200 would make Meta retry and, in
				// time, unsubscribe the whole app: keep it for the log.
				counters.Add(string(p)+".unroutable", 1)
				h.log.WarnContext(r.Context(), "webhook for an account that is not connected", "platform", p, "account", acct)
			}
			all = append(all, entries(p, conn, byAccount[acct], "unroutable: account "+acct+" is not connected")...)
		}
		ack := "EVENT_RECEIVED"
		if p == schematype.PlatformWhatsApp {
			ack = ""
		}
		h.store(w, r, p, all, ack)
	}
}
