"""Model monitoring, one home per concept and no Flask: the reference profile
(`profile`), PSI and thresholds (`stability`), the live counter (`counts`), slice
arithmetic (`slices`), metric names (`catalogue`) and shared rendering (`rendering`),
which the service and training import; and the tools outside the service: alert rules
and dashboard (`alerts`), the drift report from captured records (`report`)."""
