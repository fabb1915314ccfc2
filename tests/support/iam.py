"""Read a function's permissions out of template.yaml (each function has a role of its own)."""

from __future__ import annotations

from typing import Any


def role_of(resources: dict[str, Any], function: str) -> dict[str, Any]:
    role = resources[function]["Properties"]["Role"]
    name = role["GetAtt"].split(".")[0] if "GetAtt" in role else role["Fn::GetAtt"][0]
    return resources[name]


def statements(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The function role's inline Allow statements; conditional ones (``!If [cond, stmt, NoValue]``) included."""
    found = []
    for policy in role_of(resources, function)["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            condition = statement.get("If", statement.get("Fn::If"))
            found.append(condition[1] if condition else statement)
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def secret_parameters(resources: dict[str, Any], function: str) -> set[str]:
    """Names of the secrets (parameters or resources) a function may read."""
    names = set()
    for statement in statements(resources, function):
        if "secretsmanager:GetSecretValue" in actions(statement):
            for resource in resources_of(statement):
                condition = resource.get("If", resource.get("Fn::If")) if isinstance(resource, dict) else None
                for choice in condition[1:] if condition else [resource]:
                    names.add(_name(choice))
    return names


def _name(value: Any) -> str:
    if "Ref" in value:
        return value["Ref"]
    target = value.get("GetAtt", value.get("Fn::GetAtt"))
    return target if isinstance(target, str) else ".".join(target)
