"""The GridTokenX end-to-end demo (`./gtx demo`)."""
