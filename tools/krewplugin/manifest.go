package main

// The krew plugin manifest (krew.googlecontainertools.github.com/v1alpha2
// Plugin), as krew-index expects it.

// Plugin is a krew plugin manifest.
type Plugin struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   Metadata   `json:"metadata"`
	Spec       PluginSpec `json:"spec"`
}

// Metadata names the plugin: "odh" installs kubectl-odh.
type Metadata struct {
	Name string `json:"name"`
}

// PluginSpec describes the plugin and where each platform's archive is.
type PluginSpec struct {
	Version          string     `json:"version"`
	Homepage         string     `json:"homepage"`
	ShortDescription string     `json:"shortDescription"`
	Description      string     `json:"description"`
	Caveats          string     `json:"caveats"`
	Platforms        []Platform `json:"platforms"`
}

// Platform is one os/arch archive.
type Platform struct {
	Selector Selector `json:"selector"`
	URI      string   `json:"uri"`
	Sha256   string   `json:"sha256"`
	Bin      string   `json:"bin"`
	Files    []File   `json:"files"`
}

// Selector matches the os and arch labels krew sets.
type Selector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

// File is copied from the archive into the plugin's folder.
type File struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func platformEntry(goos, goarch, uri, sha string) Platform {
	bin := binName(goos)
	return Platform{
		Selector: Selector{MatchLabels: map[string]string{"os": goos, "arch": goarch}},
		URI:      uri,
		Sha256:   sha,
		Bin:      bin,
		Files:    []File{{From: bin, To: "."}, {From: "LICENSE", To: "."}},
	}
}

// Manifest is the odh plugin's manifest for version.
func Manifest(version string, platforms []Platform) Plugin {
	return Plugin{
		APIVersion: "krew.googlecontainertools.github.com/v1alpha2",
		Kind:       "Plugin",
		Metadata:   Metadata{Name: "odh"},
		Spec: PluginSpec{
			Version:          version,
			Homepage:         "https://github.com/mpijob-platform/mpijob-platform",
			ShortDescription: "Submit, wait for and debug Kubeflow MPIJobs",
			Description: `Runs distributed MPI training (Horovod, DeepSpeed, mpirun) as kubeflow.org/v2beta1
MPIJobs: create from a file or from flags, get, describe with the failure
diagnosis, logs of the launcher and workers, wait, suspend, resume and delete.
Exit codes are the job's outcome (0 succeeded, 1 failed, 2 invalid, 3 timed
out or still queued, 4 not found or forbidden), for CI pipelines.
Works as "kubectl odh mpijob ..." and "oc odh mpijob ...".`,
			Caveats: `Needs an MPIJob controller on the cluster (the MPIJob Platform, or Kubeflow's
mpi-operator v0.8 or later). Usage: kubectl odh mpijob --help`,
			Platforms: platforms,
		},
	}
}
