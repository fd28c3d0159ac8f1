#!/usr/bin/env python3
"""Writes fixtures/code_shape.json: small code sets with their shape computed by numpy.

The Rust side (cllm_core::shape::CodeShape) must reproduce, from the same f32 codes:
participation ratio (sum l)^2 / sum l^2 of the covariance eigenvalues (ddof=1), the fewest
leading directions holding 90% of the variance, the first direction's share, and the mean
|correlation| over pairs of distinct coordinates. Seeded; run from the repository root:

    python3 scripts/code_shape_fixture.py
"""
import json
import numpy as np

rng = np.random.default_rng(20261207)


def shape(codes):
    x = codes.astype(np.float64)
    cov = np.cov(x, rowvar=False, ddof=1)
    lam = np.clip(np.sort(np.linalg.eigvalsh(cov))[::-1], 0.0, None)
    total = lam.sum()
    pr = total ** 2 / (lam ** 2).sum()
    d90, acc = 0, 0.0
    for l in lam:
        if acc >= 0.9 * total:
            break
        acc += l
        d90 += 1
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    iu = np.triu_indices(len(lam), 1)
    return {
        "participation_ratio": float(pr),
        "directions_90": int(d90),
        "first_direction_share": float(lam[0] / total),
        "mean_abs_correlation": float(np.abs(corr[iu]).mean()),
        "eigenvalues": [float(v) for v in lam],
    }


cases = []
# one number copied into 8 coordinates, plus a little noise: the collapsed code
base = rng.normal(size=(60, 1))
collapsed = (base * rng.uniform(0.5, 2.0, size=(1, 8)) + 0.05 * rng.normal(size=(60, 8))).astype(np.float32)
# isotropic Gaussian codes: every direction used
isotropic = rng.normal(size=(80, 6)).astype(np.float32)
# an anisotropic but full-rank code: variances 9, 4, 1, 0.25 in a rotated frame
q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
aniso = ((rng.normal(size=(50, 4)) * np.array([3.0, 2.0, 1.0, 0.5])) @ q.T + 5.0).astype(np.float32)
for name, codes in [("collapsed", collapsed), ("isotropic", isotropic), ("anisotropic", aniso)]:
    case = {"name": name, "codes": codes.tolist()}
    case.update(shape(codes))
    cases.append(case)

with open("fixtures/code_shape.json", "w") as f:
    json.dump({"generator": "scripts/code_shape_fixture.py", "cases": cases}, f)
print("wrote fixtures/code_shape.json:", [(c["name"], round(c["participation_ratio"], 3)) for c in cases])
