package packaging

import _ "embed"

// IconSVG is the platform's icon. The OLM bundle's ClusterServiceVersion
// and the file-based catalog's olm.package both show it, so it lives here
// once.
//
//go:embed icon.svg
var IconSVG []byte

// IconMediaType is the media type of IconSVG.
const IconMediaType = "image/svg+xml"
