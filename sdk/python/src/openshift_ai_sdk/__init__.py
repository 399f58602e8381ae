"""OpenShift AI SDK. Training jobs live in :mod:`openshift_ai_sdk.training`."""
