"""List the sandbox's ACR tokens and GitHub deployments with the official SDKs, from the env file alone.

    release-custodian sandbox serve --env-file .sandbox/sandbox.env &
    set -a; . .sandbox/sandbox.env; set +a
    python examples/list_from_env.py

Uses only the env-file contract: AZURE_ARM_ENDPOINT, REQUESTS_CA_BUNDLE, AZURE_ACCESS_TOKEN,
AZURE_SUBSCRIPTION_IDS, GITHUB_BASE_URL, GITHUB_TOKEN, GITHUB_ORG, GITHUB_RELEASE_REPOS.
"""

from __future__ import annotations

import os
import time
from typing import Any

from azure.core.credentials import AccessToken
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from github import Auth, Github


class EnvToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(os.environ["AZURE_ACCESS_TOKEN"], int(time.time()) + 3600)


def main() -> None:
    endpoint = os.environ["AZURE_ARM_ENDPOINT"]
    for subscription in os.environ["AZURE_SUBSCRIPTION_IDS"].split(","):
        client = ContainerRegistryManagementClient(
            EnvToken(),  # type: ignore[arg-type]
            subscription,
            base_url=endpoint,
            credential_scopes=[endpoint + "/.default"],
            connection_verify=os.environ["REQUESTS_CA_BUNDLE"],
        )
        for registry in client.registries.list():
            group = registry.id.split("/")[4]
            for token in client.tokens.list(group, registry.name):
                print(f"acr-token {registry.name} {token.name} {token.status}")

    github = Github(auth=Auth.Token(os.environ["GITHUB_TOKEN"]), base_url=os.environ["GITHUB_BASE_URL"])
    print(f"github-org {os.environ['GITHUB_ORG']}")
    for repo_name in os.environ["GITHUB_RELEASE_REPOS"].split(","):
        repo = github.get_repo(repo_name)
        for deployment in repo.get_deployments():
            states = [status.state for status in deployment.get_statuses()]
            print(f"deployment {repo_name} {deployment.ref} {deployment.environment} {','.join(states)}")


if __name__ == "__main__":
    main()
