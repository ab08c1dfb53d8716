"""Output for a GitOps engine (Argo CD, Flux): apps declared `[gitops]` in `apps/<app>.toml`
have their desired version rendered into a Kustomize overlay or a Helm values file, in the same
commit that changes `deployments/<env>/<app>.toml`."""
