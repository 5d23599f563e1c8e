"""Pure clinical core: no Django imports. Plain values in, plain values out."""
