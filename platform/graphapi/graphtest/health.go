package graphtest

import "slices"

// Unsubscribe removes the app's subscription to pageID's webhooks behind
// the app's back, as Meta does when the webhook keeps failing or a page
// admin removes the app.
func (s *Server) Unsubscribe(pageID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, pageID)
}

// SetSubscription makes the app subscribed to exactly fields of pageID, as
// an older registration with fewer fields would have left it.
func (s *Server) SetSubscription(pageID string, fields ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[pageID] = slices.Clone(fields)
}

// RevokeScope takes scope away from pageID's token, as a page admin
// removing a permission in the business integrations settings does:
// debug_token stops listing it.
func (s *Server) RevokeScope(pageID, scope string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pages[pageID]; p != nil {
		p.Scopes = slices.DeleteFunc(p.Scopes, func(sc string) bool { return sc == scope })
	}
}

// SetPhoneHealth sets what reading a WhatsApp number reports of it: its
// quality_rating ("GREEN", "YELLOW", "RED", "UNKNOWN"; GREEN at first) and
// its whatsapp_business_manager_messaging_limit ("TIER_250" at first, as
// for a new business portfolio; "TIER_2K", "TIER_10K", "TIER_100K",
// "TIER_UNLIMITED").
func (s *Server) SetPhoneHealth(phoneID, quality, limit string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ph := s.phones[phoneID]; ph != nil {
		ph.quality, ph.limit = quality, limit
	}
}
