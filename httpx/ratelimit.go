package httpx

import (
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// limitedClients bounds the client networks whose request rates a
// ClientLimiter remembers (about 200 bytes each). A network evicted under a
// flood of others starts again with a full burst, which is all an attacker
// with that many addresses gains.
const limitedClients = 65536

// ClientLimiter gives each client network (see ClientNet) a budget of
// requests: perSecond on average, burst at once.
type ClientLimiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	clients *simplelru.LRU[netip.Prefix, *rate.Limiter]
}

// NewClientLimiter returns a limiter of perSecond requests per client
// network, with bursts of burst.
func NewClientLimiter(perSecond float64, burst int) *ClientLimiter {
	clients, _ := simplelru.NewLRU[netip.Prefix, *rate.Limiter](limitedClients, nil)
	return &ClientLimiter{rate: rate.Limit(perSecond), burst: burst, clients: clients}
}

// Wait takes one request from the client's budget and returns 0, or, when
// the budget is spent, how long until it holds a request again.
func (l *ClientLimiter) Wait(client netip.Addr, now time.Time) time.Duration {
	key := ClientNet(client) // the zero Prefix for a peer that is no IP: one shared budget
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.clients.Get(key)
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.clients.Add(key, lim)
	}
	if lim.AllowN(now, 1) {
		return 0
	}
	return time.Duration((1 - lim.TokensAt(now)) / float64(l.rate) * float64(time.Second))
}
