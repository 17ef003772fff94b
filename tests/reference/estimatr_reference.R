# Reference values for analysis/estimators.py, from R's estimatr and clubSandwich.
#
#   Rscript tests/reference/estimatr_reference.R      (run from the repository root)
#
# Reads tests/reference/data/*.csv (written by make_datasets.py) and writes, with
# 17 significant digits:
#   tests/reference/output/coefficients.csv  one row per (model, term)
#   tests/reference/output/models.csv        one row per model: n, n_clusters, se_type
#   tests/reference/output/first_stage.csv   iv_robust(diagnostics = TRUE) weak-instrument F
#   tests/reference/output/versions.txt      R and package versions used
# The Python tests read these files; they never need R.
suppressPackageStartupMessages({
  library(estimatr)
  library(clubSandwich)
  library(AER)
})

read <- function(name) read.csv(file.path("tests/reference/data", name), na.strings = "NA")
ind <- read("individual.csv")
ind$stratum <- factor(ind$stratum)
ind$arm3 <- factor(ind$arm3, levels = c("control", "letter", "letter_plus"))
cof <- read("coffee13.csv")
ivd <- read("iv.csv")
ivd$stratum <- factor(ivd$stratum)
tms <- read("teams.csv")
tms$stratum <- factor(tms$stratum)
# lm and ivreg drop incomplete rows; clubSandwich's cluster vector must match the rows kept.
tms_cc <- tms[complete.cases(tms[, c("y", "baseline")]), ]

num <- function(x) trimws(formatC(as.numeric(x), digits = 17, format = "g"))
coef_rows <- list()
model_rows <- list()
first_stage_rows <- list()

record <- function(model, kind, se_type, n, n_clusters, term, estimate, std_error, df,
                   statistic, p_value, ci_low, ci_high) {
  coef_rows[[length(coef_rows) + 1]] <<- data.frame(
    model = model, term = term, estimate = num(estimate), std_error = num(std_error),
    df = num(df), statistic = num(statistic), p_value = num(p_value),
    ci_low = num(ci_low), ci_high = num(ci_high)
  )
  model_rows[[length(model_rows) + 1]] <<- data.frame(
    model = model, kind = kind, se_type = se_type, n = n,
    n_clusters = if (is.null(n_clusters)) NA else n_clusters
  )
}

add_estimatr <- function(model, fit, kind) {
  record(model, kind, fit$se_type, fit$nobs, fit$nclusters, names(fit$coefficients),
         fit$coefficients, fit$std.error, fit$df, fit$statistic, fit$p.value,
         fit$conf.low, fit$conf.high)
  if (!is.null(fit$diagnostic_first_stage_fstatistic)) {
    f <- fit$diagnostic_first_stage_fstatistic
    first_stage_rows[[length(first_stage_rows) + 1]] <<- data.frame(
      model = model, f_statistic = num(f[["value"]]), df_num = num(f[["nomdf"]]),
      df_den = num(f[["dendf"]]), p_value = num(f[["p.value"]])
    )
  }
}

add_club <- function(model, fit, cluster, kind) {
  ct <- coef_test(fit, vcov = "CR2", cluster = cluster, test = "Satterthwaite")
  ci <- conf_int(fit, vcov = "CR2", cluster = cluster, test = "Satterthwaite", level = 0.95)
  record(model, kind, "CR2", nobs(fit), length(unique(cluster)), ct$Coef, ct$beta, ct$SE,
         ct$df_Satt, ct$tstat, ct$p_Satt, ci$CI_L, ci$CI_U)
}

# (a) Individually randomised, 3 strata, complete cases (lm_robust drops NA rows).
for (se in c("HC0", "HC1", "HC2", "HC3")) {
  add_estimatr(paste0("individual_", se),
               lm_robust(y ~ treat + baseline + stratum, data = ind, se_type = se), "ols")
}
# (d) Weighted (inverse-probability style).
for (se in c("HC1", "HC2")) {
  add_estimatr(paste0("individual_weighted_", se),
               lm_robust(y ~ treat + baseline + stratum, data = ind, weights = w, se_type = se),
               "ols")
}
# (e) Three arms, each active arm against control.
add_estimatr("individual_three_arm_HC2",
             lm_robust(y ~ arm3 + baseline + stratum, data = ind, se_type = "HC2"), "ols")

# (b) 13 buildings: cluster-level treatment.
for (se in c("CR0", "stata", "CR2")) {
  add_estimatr(paste0("coffee_", se),
               lm_robust(y ~ treat + baseline, data = cof, clusters = building, se_type = se),
               "ols")
}
add_estimatr("coffee_building_size_CR2",
             lm_robust(y ~ treat + baseline + building_size, data = cof, clusters = building,
                       se_type = "CR2"), "ols")
for (se in c("CR0", "stata", "CR2")) {
  add_estimatr(paste0("coffee_weighted_", se),
               lm_robust(y ~ treat + baseline, data = cof, clusters = building, weights = w,
                         se_type = se), "ols")
}
add_club("coffee_clubSandwich_CR2", lm(y ~ treat + baseline, data = cof), cof$building, "ols")
add_club("coffee_building_size_clubSandwich_CR2",
         lm(y ~ treat + baseline + building_size, data = cof), cof$building, "ols")

# (c) IV: assignment instruments uptake (or dose).
add_estimatr("iv_HC2",
             iv_robust(y ~ uptake + baseline + stratum | assigned + baseline + stratum,
                       data = ivd, se_type = "HC2", diagnostics = TRUE), "iv")
add_estimatr("iv_HC1",
             iv_robust(y ~ uptake + baseline + stratum | assigned + baseline + stratum,
                       data = ivd, se_type = "HC1", diagnostics = TRUE), "iv")
add_estimatr("iv_dose_HC2",
             iv_robust(y ~ dose + baseline | assigned + baseline,
                       data = ivd, se_type = "HC2", diagnostics = TRUE), "iv")
add_estimatr("iv_weighted_HC2",
             iv_robust(y ~ uptake + baseline + stratum | assigned + baseline + stratum,
                       data = ivd, weights = w, se_type = "HC2", diagnostics = TRUE), "iv")
add_estimatr("iv_CR2",
             iv_robust(y ~ uptake + baseline + stratum | assigned + baseline + stratum,
                       data = ivd, clusters = team, se_type = "CR2", diagnostics = TRUE), "iv")
add_estimatr("iv_stata",
             iv_robust(y ~ uptake + baseline + stratum | assigned + baseline + stratum,
                       data = ivd, clusters = team, se_type = "stata", diagnostics = TRUE), "iv")
add_estimatr("iv_weighted_CR2",
             iv_robust(y ~ uptake + baseline + stratum | assigned + baseline + stratum,
                       data = ivd, clusters = team, weights = w, se_type = "CR2",
                       diagnostics = TRUE), "iv")

add_club("iv_clubSandwich_CR2",
         ivreg(y ~ uptake + baseline + stratum | assigned + baseline + stratum, data = ivd),
         ivd$team, "iv")
add_club("coffee_weighted_clubSandwich_CR2", lm(y ~ treat + baseline, data = cof, weights = w),
         cof$building, "ols")

# (f) Individually randomised within 4 LAs, SEs clustered by team (40 teams): the
#     grouping is not the unit of randomisation (trialflow's analysis.cluster_se_by).
add_estimatr("teams_HC2",
             lm_robust(y ~ treat + baseline + stratum, data = tms, se_type = "HC2"), "ols")
for (se in c("CR0", "stata", "CR2")) {
  add_estimatr(paste0("teams_", se),
               lm_robust(y ~ treat + baseline + stratum, data = tms, clusters = team,
                         se_type = se), "ols")
}
add_club("teams_clubSandwich_CR2", lm(y ~ treat + baseline + stratum, data = tms_cc),
         tms_cc$team, "ols")
add_estimatr("teams_iv_CR2",
             iv_robust(y ~ took_up + baseline + stratum | treat + baseline + stratum,
                       data = tms, clusters = team, se_type = "CR2", diagnostics = TRUE), "iv")
add_club("teams_iv_clubSandwich_CR2",
         ivreg(y ~ took_up + baseline + stratum | treat + baseline + stratum, data = tms_cc),
         tms_cc$team, "iv")

dir.create("tests/reference/output", showWarnings = FALSE)
out <- function(rows, name) {
  write.csv(do.call(rbind, rows), file.path("tests/reference/output", name), row.names = FALSE)
}
out(coef_rows, "coefficients.csv")
out(model_rows, "models.csv")
out(first_stage_rows, "first_stage.csv")
writeLines(c(R.version.string,
             paste("estimatr", packageVersion("estimatr")),
             paste("clubSandwich", packageVersion("clubSandwich")),
             paste("AER", packageVersion("AER"))),
           "tests/reference/output/versions.txt")
