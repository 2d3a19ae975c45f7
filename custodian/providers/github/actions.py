"""Changes to GitHub machine accounts, for both modes; every call is a mutating raw request.

enterprise-server (site admin): suspend, delete impersonation tokens, delete SSH keys, delete user.
organization (GitHub App): revoke fine-grained PAT grants, remove org membership. An App cannot
suspend or delete a github.com user, nor delete its SSH keys: those steps are reported, not faked.
"""

from __future__ import annotations

from custodian.providers.github.client import GithubCallError, GithubSession


class GithubAccountActions:
    def __init__(self, session: GithubSession) -> None:
        self.session = session

    # -- enterprise-server ----------------------------------------------------------------------
    def suspend(self, login: str, reason: str) -> None:
        self.session.request("PUT", f"/users/{login}/suspended", {"reason": reason})

    def delete_impersonation_tokens(self, login: str) -> None:
        self.session.request("DELETE", f"/admin/users/{login}/authorizations")

    def delete_ssh_keys(self, key_ids: list[str]) -> None:
        for key_id in key_ids:
            try:
                self.session.request("DELETE", f"/admin/keys/{key_id}")
            except GithubCallError as exc:
                if exc.status != 404:  # already gone is the state we want
                    raise

    def delete_user(self, login: str) -> None:
        try:
            self.session.request("DELETE", f"/admin/users/{login}")
        except GithubCallError as exc:
            if exc.status != 404:
                raise

    # -- organization ---------------------------------------------------------------------------
    def revoke_pat_grants(self, grant_ids: list[str]) -> None:
        org = self.session.settings.org
        for start in range(0, len(grant_ids), 100):
            batch = [int(g) for g in grant_ids[start : start + 100]]
            self.session.request("POST", f"/orgs/{org}/personal-access-tokens", {"action": "revoke", "pat_ids": batch})

    def remove_membership(self, login: str) -> None:
        try:
            self.session.request("DELETE", f"/orgs/{self.session.settings.org}/memberships/{login}")
        except GithubCallError as exc:
            if exc.status != 404:
                raise
