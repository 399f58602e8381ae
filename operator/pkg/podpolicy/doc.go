// Package podpolicy is the platform's pod-security policy for MPIJobs:
// what Pod Security's baseline profile refuses, privileged containers,
// host networking, jobs in the platform's own namespace, and a platform
// limit on workers below the API's. It is one pure function, used by the
// validating webhook at admission and by the MPIJob controller before it
// creates anything, so a job that reaches the controller without the
// webhooks (absent, or bypassed) meets the same rules in the same words.
package podpolicy
