package backend

import (
	"net/http"
	"strings"
)

// Options configure the API.
type Options struct {
	// Clients builds a caller's clients from their token.
	Clients ClientFactory
	// DevToken, when set, stands in for a missing Authorization header.
	// It is for local use only (the command allows it on loopback
	// addresses): behind a proxy every request brings its own token.
	DevToken string
	// Static serves the front end; nil serves nothing outside /api.
	Static http.Handler
	// PrometheusURL is queried (with the console's own network identity,
	// after the caller's token has proven they may read the job) for the
	// Metrics tab and the admin view's GPU utilisation; GrafanaURL is
	// linked from them. Empty when not configured.
	PrometheusURL string
	GrafanaURL    string
	// PrometheusClient sends the metrics queries; nil is
	// http.DefaultClient. Each query has its own 5 s timeout.
	PrometheusClient *http.Client
	// Version is the console's version, for /api/v1/config.
	Version string
	// Jobs is the index the job list is read from (jobindex.go); nil, or
	// before its first list is in, lists are read with each caller's token.
	Jobs *JobIndex
}

// Server is the console's HTTP API and static file server.
type Server struct {
	opts   Options
	access accessCache
}

// New returns the console server.
func New(opts Options) *Server { return &Server{opts: opts} }

// route is one API endpoint; docs/reference/console-api.md documents
// each (a test checks).
type route struct {
	method, pattern string
	handler         http.HandlerFunc
}

func (s *Server) routes() []route {
	const ns = "/api/v1/namespaces/{namespace}"
	const job = ns + "/mpijobs/{name}"
	return []route{
		{"GET", "/api/v1/config", s.config},
		{"GET", "/api/v1/whoami", s.authed(s.whoami)},
		{"GET", "/api/v1/namespaces", s.authed(s.namespaces)},
		{"GET", "/api/v1/mpijobs", s.authed(s.listMPIJobs)},
		{"GET", ns + "/mpijobs", s.authed(s.listMPIJobs)},
		{"POST", ns + "/mpijobs", s.authed(s.createMPIJob)},
		{"GET", job, s.authed(s.getMPIJob)},
		{"DELETE", job, s.authed(s.deleteMPIJob)},
		{"POST", job + "/suspend", s.authed(s.suspend(true))},
		{"POST", job + "/resume", s.authed(s.suspend(false))},
		{"GET", job + "/workers", s.authed(s.withJob(s.workers))},
		{"GET", job + "/events", s.authed(s.withJob(s.events))},
		{"GET", job + "/logs", s.authed(s.logs)},
		{"GET", job + "/metrics", s.authed(s.jobMetrics)},
		{"GET", "/api/v1/trainingjobs", s.authed(s.listTrainingJobs)},
		{"GET", ns + "/trainingjobs", s.authed(s.listTrainingJobs)},
		{"GET", "/api/v1/trainingjobs/watch", s.authed(s.watchTrainingJobs)},
		{"GET", ns + "/trainingjobs/watch", s.authed(s.watchTrainingJobs)},
		{"GET", ns + "/quota", s.authed(s.namespaceQuota)},
		{"GET", "/api/v1/quota", s.authed(s.clusterQuota)},
		{"GET", "/api/v1/admin/gpu-utilization", s.authed(s.clusterGPUUtilization)},
	}
}

// Handler routes /api/v1 and the front end, with security headers and
// cross-origin protection on every state-changing request.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		mux.HandleFunc(r.method+" "+r.pattern, r.handler)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, Error{Error: "no such API: " + r.Method + " " + r.URL.Path + "; see docs/reference/console-api.md", Reason: "NotFound"})
	})
	if s.opts.Static != nil {
		mux.Handle("/", s.opts.Static)
	}
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// authed runs h with the caller's clients; without a token it answers 401.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *Clients)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := bearerToken(r)
		if token == "" {
			token = s.opts.DevToken
		}
		if token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mpijob-console"`)
			writeJSON(w, http.StatusUnauthorized, Error{
				Error:  "no bearer token: sign in through the console's authenticating proxy, or send Authorization: Bearer <token> (for example from `kubectl create token` or `oc whoami -t`)",
				Reason: "Unauthorized",
			})
			return
		}
		c, err := s.opts.Clients(token)
		if err != nil {
			writeError(w, err, nil)
			return
		}
		c.token = token
		h(w, r, c)
	}
}

// ConsoleConfig is what the front end needs to know of the deployment.
type ConsoleConfig struct {
	Version       string `json:"version"`
	Metrics       bool   `json:"metrics"`
	GrafanaURL    string `json:"grafanaURL,omitempty"`
	QuickstartURL string `json:"quickstartURL"`
}

func (s *Server) config(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, ConsoleConfig{
		Version:       s.opts.Version,
		Metrics:       s.opts.PrometheusURL != "",
		GrafanaURL:    s.opts.GrafanaURL,
		QuickstartURL: "https://github.com/mpijob-platform/mpijob-platform/blob/main/docs/quickstart.md",
	})
}

func warnings(c *Clients) []string {
	if c.Warnings == nil {
		return nil
	}
	return c.Warnings()
}
