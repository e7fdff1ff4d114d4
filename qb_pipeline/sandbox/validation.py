"""QuickBooks' fault shape and the field checks every entity's rules share."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from qb_pipeline.sandbox.store import Store, qbo_time


class Fault(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        detail: str = "",
        *,
        status: int = 400,
        fault_type: str = "ValidationFault",
        element: str = "",
    ) -> None:
        super().__init__(f"{code} {message}")
        self.code, self.message, self.detail = code, message, detail or message
        self.status, self.fault_type, self.element = status, fault_type, element

    def body(self) -> dict:
        return {
            "Fault": {
                "Error": [{"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}],
                "type": self.fault_type,
            },
            "time": qbo_time(),
        }


def not_found(entity: str, record_id: object) -> Fault:
    return Fault(
        "610",
        "Object Not Found",
        f"Object Not Found : Something you're trying to use has been made inactive or deleted. {entity} Id {record_id}",
    )


def not_this_company() -> Fault:
    """A valid token sent to another company's URL (or a realm id no company has). Intuit answers 401 with
    its general authentication error, as Intuit's own staff reproduced it for "the incorrect token/realm
    combination" (intuit/oauth-jsclient issue 91): AuthenticationFault, code 100, SRV-110."""
    return Fault(
        "100",
        "General Authentication Error",
        "AuthenticationErrorGeneral: SRV-110-Authentication Failure , statusCode: 401",
        status=401,
        fault_type="AuthenticationFault",
    )


def decimal_field(value: object, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise Fault("2050", "Invalid Number", f"{field} is not a number: {value}", element=field) from None


def check_name(value: object, field: str, limit: int, forbidden: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise Fault(
            "2020",
            "Required param missing, need to supply the required value for the API",
            f"Required parameter {field} is missing in the request",
            element=field,
        )
    if len(value) > limit:
        raise Fault(
            "2050",
            "String length is either shorter or longer than supported by specified field",
            f"{field} is {len(value)} characters; at most {limit} are allowed",
            element=field,
        )
    bad = [c for c in forbidden if c in value]
    if bad:
        raise Fault("2050", "Invalid character", f"{field} cannot contain {bad[0]!r}", element=field)
    return value


def reference(store: Store, realm: str, entity: str, ref: object, field: str) -> dict:
    record_id = ref.get("value") if isinstance(ref, dict) else None
    record = store.get(realm, entity, int(record_id)) if record_id and str(record_id).isdigit() else None
    if record is None:
        raise Fault(
            "2500",
            "Invalid Reference Id",
            f"Invalid Reference Id : {field} {record_id!r} does not exist",
            element=field,
        )
    return record
