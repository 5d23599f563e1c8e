"""ketaclinic: a self-hosted platform for ketamine and esketamine treatment programs."""

__version__ = "0.1.0"
