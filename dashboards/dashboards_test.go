package dashboards

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The committed JSON is what the Go sources generate (make generate
// rewrites it), and every file has a builder.
func TestGeneratedJSONIsCurrent(t *testing.T) {
	uids, files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(uids) != len(Builders()) {
		t.Errorf("%d generated files for %d builders: run make generate", len(uids), len(Builders()))
	}
	for uid, build := range Builders() {
		want, err := Render(build)
		if err != nil {
			t.Fatalf("%s: %v", uid, err)
		}
		if !bytes.Equal(files[uid], want) {
			t.Errorf("dashboards/%s.json is stale: run make generate", uid)
		}
		var d struct {
			UID    string           `json:"uid"`
			Panels []map[string]any `json:"panels"`
		}
		if err := json.Unmarshal(want, &d); err != nil || d.UID != uid || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q, %d panels, %v", uid, d.UID, len(d.Panels), err)
		}
	}
}
