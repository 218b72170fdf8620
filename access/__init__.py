"""Who may do what: roles (groups of permissions), world limits and the admin's guards."""
