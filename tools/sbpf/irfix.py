"""IR fix-ups applied to the linked module before optimisation."""


def fix_ir(ir: str) -> str:
    return ir
