package schematype

// ZaloWidget is how a Zalo connection's interaction-permission widget
// shows on the business's website (seed 000).
type ZaloWidget struct {
	// Status is SHOW or HIDE.
	Status string `json:"status,omitempty"`
	// ReasonMessage tells the visitor why the business asks.
	ReasonMessage string `json:"reasonMessage,omitempty"`
	// CallbackName is the page's JavaScript function the widget calls.
	CallbackName string `json:"callbackName,omitempty"`
	// AllowedOrigins may post the widget's browser events.
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
}
