# Reference values for absorbed stratum fixed effects (analysis/estimators/absorb.py, issue 18).
#
#   Rscript tests/reference/strata_fe_reference.R      (run from the repository root)
#
# Reads tests/reference/data/strata_fe.csv (make_strata_fe_dataset.py: 41 organisations as
# strata, one of a single person, one with no one in the active arm; 116 teams nested in
# them) and writes, with 17 significant digits:
#   tests/reference/output/strata_fe_coefficients.csv  one row per (model, term)
#   tests/reference/output/strata_fe_models.csv        per model: kind, se_type, n, clusters
#   tests/reference/output/strata_fe_versions.txt      R and estimatr versions
# Every model uses fixed_effects = ~ stratum, so estimatr absorbs the strata (no intercept or
# stratum terms in its output), as trialflow does above ABSORB_STRATA_ABOVE strata:
#   lm_robust(y ~ treat + baseline, fixed_effects = ~ stratum): HC0, HC1, HC2, HC3 and
#     weighted HC2; CR0, stata (CR1) and CR2 clustered by team, weighted stata;
#   lm_robust(took_up ~ treat + baseline, fixed_effects = ~ stratum): the first stage, whose
#     treat t statistic squared is the first-stage F (iv_robust returns no diagnostics with
#     fixed effects: "Will not return `diagnostics` if `fixed_effects` are used");
#   iv_robust(y ~ took_up + baseline | treat + baseline, fixed_effects = ~ stratum): HC1, HC2,
#     HC3, weighted HC2; CR2 and stata by team, weighted stata.
#   both with org_size, constant within strata, as well (itt_constant_HC2, iv_constant_HC2).
# estimatr 1.0.0 accepts HC3 with fixed effects (for both lm_robust and iv_robust); it
# refuses weighted CR2 with fixed effects, so no weighted CR2 here.
# The Python tests read these files; they never need R.
suppressPackageStartupMessages(library(estimatr))

d <- read.csv("tests/reference/data/strata_fe.csv", na.strings = "NA")
d$stratum <- factor(d$stratum)
num <- function(x) trimws(formatC(as.numeric(x), digits = 17, format = "g"))
coef_rows <- list()
model_rows <- list()

add <- function(model, kind, fit) {
  coef_rows[[length(coef_rows) + 1]] <<- data.frame(
    model = model, term = names(fit$coefficients), estimate = num(fit$coefficients),
    std_error = num(fit$std.error), df = num(fit$df), statistic = num(fit$statistic),
    p_value = num(fit$p.value), ci_low = num(fit$conf.low), ci_high = num(fit$conf.high)
  )
  model_rows[[length(model_rows) + 1]] <<- data.frame(
    model = model, kind = kind, se_type = fit$se_type, n = fit$nobs,
    n_clusters = if (is.null(fit$nclusters)) NA else fit$nclusters
  )
}

for (se in c("HC0", "HC1", "HC2", "HC3")) {
  add(paste0("itt_", se), "ols",
      lm_robust(y ~ treat + baseline, fixed_effects = ~ stratum, data = d, se_type = se))
}
add("itt_weighted_HC2", "ols",
    lm_robust(y ~ treat + baseline, fixed_effects = ~ stratum, data = d, weights = w,
              se_type = "HC2"))
for (se in c("CR0", "stata", "CR2")) {
  add(paste0("itt_", se), "ols",
      lm_robust(y ~ treat + baseline, fixed_effects = ~ stratum, data = d, clusters = team,
                se_type = se))
}
# estimatr refuses weighted CR2 with fixed effects ("Cannot use `fixed_effects` with weighted
# CR2 estimation at the moment"): weighted stata instead; tests/analysis/estimators/
# test_absorb.py holds trialflow's absorbed weighted CR2 to its dummy model, which
# estimatr_reference.R checks.
add("itt_weighted_stata", "ols",
    lm_robust(y ~ treat + baseline, fixed_effects = ~ stratum, data = d, weights = w,
              clusters = team, se_type = "stata"))
# org_size is constant within organisations: estimatr reports it NA (not estimable with
# the fixed effects), trialflow drops it and lists it in dropped_terms
add("itt_constant_HC2", "ols",
    lm_robust(y ~ treat + org_size + baseline, fixed_effects = ~ stratum, data = d,
              se_type = "HC2"))
add("iv_constant_HC2", "iv",
    iv_robust(y ~ took_up + org_size + baseline | treat + org_size + baseline,
              fixed_effects = ~ stratum, data = d, se_type = "HC2"))
# the first stage, on the rows the IV fits use (complete in y as well)
cc <- d[!is.na(d$y), ]
for (se in c("HC1", "HC2", "HC3")) {
  add(paste0("first_", se), "ols",
      lm_robust(took_up ~ treat + baseline, fixed_effects = ~ stratum, data = cc, se_type = se))
}
add("first_CR2", "ols",
    lm_robust(took_up ~ treat + baseline, fixed_effects = ~ stratum, data = cc,
              clusters = team, se_type = "CR2"))
for (se in c("HC1", "HC2", "HC3")) {
  add(paste0("iv_", se), "iv",
      iv_robust(y ~ took_up + baseline | treat + baseline, fixed_effects = ~ stratum, data = d,
                se_type = se))
}
add("iv_weighted_HC2", "iv",
    iv_robust(y ~ took_up + baseline | treat + baseline, fixed_effects = ~ stratum, data = d,
              weights = w, se_type = "HC2"))
for (se in c("stata", "CR2")) {
  add(paste0("iv_", se), "iv",
      iv_robust(y ~ took_up + baseline | treat + baseline, fixed_effects = ~ stratum, data = d,
                clusters = team, se_type = se))
}
add("iv_weighted_stata", "iv",
    iv_robust(y ~ took_up + baseline | treat + baseline, fixed_effects = ~ stratum, data = d,
              weights = w, clusters = team, se_type = "stata"))

out <- "tests/reference/output"
write.csv(do.call(rbind, coef_rows), file.path(out, "strata_fe_coefficients.csv"),
          row.names = FALSE)
write.csv(do.call(rbind, model_rows), file.path(out, "strata_fe_models.csv"), row.names = FALSE)
writeLines(c(R.version.string, paste("estimatr", packageVersion("estimatr"))),
           file.path(out, "strata_fe_versions.txt"))
