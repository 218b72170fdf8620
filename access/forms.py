"""The admin's login form, throttled: a locked-out attempt is refused before any hashing."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from access.throttle import check_login_allowed, record_login_failure


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """Django admin's login form with the lockouts of ``access.throttle``.

    ``clean`` asks ``check_login_allowed`` first: while the username or the client address
    is locked out the form is invalid with the lockout's message and the password is never
    checked (no PBKDF2 work, and the right password does not log in). Otherwise Django
    checks the password; a failure of any kind (wrong password, unknown user, not staff,
    inactive) is counted by ``record_login_failure``. After a refusal, ``refusal_status``
    and ``retry_after`` tell the admin site which status and ``Retry-After`` to answer with
    (``pipeworks.admin.InspectorAdminSite.login``).
    """

    refusal_status: int | None = None
    retry_after: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()
        refusal = check_login_allowed(request=self.request, username=username)
        if refusal is not None:
            self.refusal_status = refusal.status
            self.retry_after = refusal.retry_after
            raise ValidationError(refusal.message, code=refusal.code)
        try:
            return super().clean()
        except ValidationError:
            record_login_failure(request=self.request, username=username)
            raise
