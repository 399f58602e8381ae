package mpijob

import "github.com/mpijob-platform/mpijob-platform/pkg/mpijob"

// maxEventNoteBytes is the longest note events.k8s.io/v1 accepts; the
// apiserver refuses a longer Event whole, and the diagnosis with it.
const maxEventNoteBytes = 1024

// eventNote is the note of an event: within maxEventNoteBytes, cut with a
// marker if needed. Every event of the controller goes through it (eventf).
func eventNote(note string) string { return mpijob.TruncateUTF8(note, maxEventNoteBytes) }
