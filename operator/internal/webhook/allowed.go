package webhook

import (
	"slices"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
)

// allowedTTL is how long a review that allowed a user to create pods in a
// namespace is trusted. A refusal is never remembered, and a right taken
// away stops counting within this time, as with the API server's own
// authorization webhook cache.
const allowedTTL = 30 * time.Second

// maxAllowed bounds the cache: past it, everything is forgotten at once.
const maxAllowed = 10000

// allowedCache remembers the SubjectAccessReviews that allowed, until
// they expire.
type allowedCache struct {
	mu      sync.Mutex
	expires map[string]time.Time
}

// allowedKey is everything a review's answer depends on: who (name, UID,
// groups, extra) and where.
func allowedKey(spec authorizationv1.SubjectAccessReviewSpec) string {
	var b strings.Builder
	groups := slices.Clone(spec.Groups)
	slices.Sort(groups)
	for _, part := range []string{spec.User, spec.UID, strings.Join(groups, ","), spec.ResourceAttributes.Namespace, spec.ResourceAttributes.Verb, spec.ResourceAttributes.Resource} {
		b.WriteString(part)
		b.WriteByte(0)
	}
	keys := make([]string, 0, len(spec.Extra))
	for k := range spec.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(k + "=" + strings.Join(spec.Extra[k], ","))
		b.WriteByte(0)
	}
	return b.String()
}

func (c *allowedCache) has(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.expires[key]
	if ok && !now.Before(exp) {
		delete(c.expires, key)
		return false
	}
	return ok
}

func (c *allowedCache) add(key string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expires == nil || len(c.expires) >= maxAllowed {
		c.expires = map[string]time.Time{}
	}
	c.expires[key] = now.Add(allowedTTL)
}
