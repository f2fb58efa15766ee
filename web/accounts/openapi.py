"""The accounts routes in the OpenAPI document (see web/accounts/api.py)."""

from __future__ import annotations

from core.access import Role
from web.http.openapi import (
    INSTANT,
    STRING,
    Json,
    Part,
    body,
    nullable,
    obj,
    ok,
    op,
    path_param,
    ref,
)

ROLES: Json = {"type": "array", "items": {"enum": [str(r) for r in Role]}}
ME: Json = {
    "user": STRING,
    "display_name": STRING,
    "site": STRING,
    "roles": ROLES,
    "csrf_token": STRING,
    "expires": INSTANT,
    "must_change_password": {"type": "boolean"},
}
SIGNED_IN = "anyone signed in (the rb_session cookie)"
ADMIN = "administrator (users of its province; every user for a central office)"
NAME = path_param("name", "user name")


def openapi_part() -> Part:
    me, user = ref("Me"), ref("User")
    with_password = obj({"user": user, "one_time_password": STRING})
    just_user = obj({"user": user})
    paths: Json = {
        "/api/login": {
            "post": op(
                "Sign in; sets the rb_session cookie",
                "public (the form's rb_login cookie echoed in X-CSRF-Token)",
                ok("the person signed in", me, "400", "401", "403", "422", "429"),
                requestBody=body(obj({"user": STRING, "password": STRING})),
            )
        },
        "/api/logout": {
            "post": op(
                "Sign out: the session ends, the cookie is cleared",
                SIGNED_IN,
                ok("signed out", obj({"ok": {"const": True}}), "401", "403"),
                cookie=True,
            )
        },
        "/api/me": {
            "get": op(
                "The signed-in person and the sites they may act on",
                SIGNED_IN,
                ok("the person", ref("MeWithScope"), "401", "404"),
                cookie=True,
            )
        },
        "/api/me/password": {
            "post": op(
                "A new password; every other session of the account ends",
                SIGNED_IN,
                ok("the person, in a new session", me, "400", "401", "403", "422", "429"),
                cookie=True,
                requestBody=body(obj({"old": STRING, "new": STRING})),
            )
        },
        "/api/me/tokens": {
            "post": op(
                "A short-lived token for the pages (a media token names a session)",
                SIGNED_IN,
                ok(
                    "the token",
                    obj({"token": STRING, "expires": INSTANT}),
                    "400",
                    "401",
                    "403",
                    "404",
                    status="201",
                ),
                cookie=True,
                requestBody=body(
                    {
                        "type": "object",
                        "required": ["role"],
                        "properties": {"role": {"enum": [str(r) for r in Role]}, "session": STRING},
                    }
                ),
            )
        },
        "/api/users": {
            "get": op(
                "Users",
                ADMIN,
                ok("users", obj({"users": {"type": "array", "items": user}}), "401", "403", "404"),
                cookie=True,
            ),
            "post": op(
                "Add a user; its one-time password is shown once",
                ADMIN,
                ok(
                    "the user",
                    with_password,
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "422",
                    status="201",
                ),
                cookie=True,
                requestBody=body(
                    obj({"name": STRING, "display_name": STRING, "site": STRING, "roles": ROLES})
                ),
            ),
        },
        "/api/users/{name}/roles": {
            "put": op(
                "Set a user's roles",
                ADMIN,
                ok("the user", just_user, "400", "401", "403", "404", "409", "422"),
                cookie=True,
                parameters=[NAME],
                requestBody=body(obj({"roles": ROLES})),
            )
        },
    }
    for verb, what, answer in (
        ("disable", "Disable a user (its sessions end)", just_user),
        ("enable", "Enable a user again", just_user),
        ("reset-password", "A new one-time password for a user", with_password),
    ):
        paths[f"/api/users/{{name}}/{verb}"] = {
            "post": op(
                what,
                ADMIN,
                ok("the user", answer, "401", "403", "404", "409", "422"),
                cookie=True,
                parameters=[NAME],
            )
        }
    schemas: Json = {
        "Me": obj(ME),
        "MeWithScope": obj(
            {
                **ME,
                "scope": obj(
                    {
                        "root": nullable(STRING),
                        "sites": nullable({"type": "array", "items": STRING}),
                    }
                ),
            }
        ),
        "User": obj(
            {
                "name": STRING,
                "display_name": STRING,
                "site": STRING,
                "roles": ROLES,
                "disabled": {"type": "boolean"},
                "must_change_password": {"type": "boolean"},
                "locked_until": nullable(INSTANT),
                "created_at": INSTANT,
            }
        ),
    }
    return Part(paths, schemas)
