package backend

import (
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Identity is who the caller is to the apiserver and whether they see the
// admin view.
type Identity struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups,omitempty"`
	// Admin is true when the caller may list MPIJobs in all namespaces
	// (a SelfSubjectAccessReview), which is what the admin view shows.
	Admin bool `json:"admin"`
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, c *Clients) {
	ctx := r.Context()
	review, err := c.Kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		writeError(w, err, nil)
		return
	}
	admin, err := canListAllMPIJobs(r, c)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	ui := review.Status.UserInfo
	writeJSON(w, http.StatusOK, Identity{Username: ui.Username, Groups: ui.Groups, Admin: admin})
}

func canListAllMPIJobs(r *http.Request, c *Clients) (bool, error) {
	status, err := reviewMPIJobs(r.Context(), c.Kube, "list", "")
	return status.Allowed, err
}

// NamespaceList is the namespaces the caller may list; most users may not
// list namespaces at all, and then type the one they work in.
type NamespaceList struct {
	Items   []string `json:"items"`
	CanList bool     `json:"canList"`
}

func (s *Server) namespaces(w http.ResponseWriter, r *http.Request, c *Clients) {
	list := &corev1.NamespaceList{}
	err := c.Client.List(r.Context(), list)
	if apierrors.IsForbidden(err) {
		writeJSON(w, http.StatusOK, NamespaceList{Items: []string{}})
		return
	}
	if err != nil {
		writeError(w, err, nil)
		return
	}
	out := NamespaceList{Items: make([]string, 0, len(list.Items)), CanList: true}
	for _, ns := range list.Items {
		out.Items = append(out.Items, ns.Name)
	}
	writeJSON(w, http.StatusOK, out)
}
