"""Demo-only constants, shared by the demo seeding modules."""

# Demo data only: production has no demo accounts (`ketaclinic demo` refuses to run there).
DEMO_PASSWORD = "ketaclinic-demo"  # noqa: S105
