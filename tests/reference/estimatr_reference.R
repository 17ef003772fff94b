# Reference values for trialflow's estimators, from R's estimatr and clubSandwich.
#
#   Rscript tests/reference/estimatr_reference.R   (run from the repository root)
#
# Reads tests/reference/data/*.csv and writes tests/reference/output/estimatr_reference.csv:
# one row per (model, term) with full-precision estimates, SEs, df, CIs and p-values.
# The tests read that file; they never need R.
suppressPackageStartupMessages({
  library(estimatr)
  library(clubSandwich)
})

ind <- read.csv("tests/reference/data/individual.csv")
ind$stratum <- factor(ind$stratum)
cof <- read.csv("tests/reference/data/coffee13.csv")
ivd <- read.csv("tests/reference/data/iv.csv")
ivd$stratum <- factor(ivd$stratum)
ind$arm3 <- factor(ind$arm3, levels = c("control", "letter", "letter_plus"))

rows <- list()
add <- function(model, fit) {
  tt <- tidy(fit)
  rows[[length(rows) + 1]] <<- data.frame(
    model = model, term = tt$term, estimate = tt$estimate, std_error = tt$std.error,
    df = tt$df, ci_low = tt$conf.low, ci_high = tt$conf.high, p_value = tt$p.value
  )
}

for (se in c("HC0", "HC1", "HC2", "HC3")) {
  add(paste0("individual_", se), lm_robust(y ~ treat + baseline + stratum, data = ind, se_type = se))
}
add("individual_weighted_HC2", lm_robust(y ~ treat + baseline + stratum, data = ind, weights = w, se_type = "HC2"))
add("individual_three_arm_HC2", lm_robust(y ~ arm3 + baseline + stratum, data = ind, se_type = "HC2"))
for (se in c("CR0", "stata", "CR2")) {
  add(paste0("coffee_", se), lm_robust(y ~ treat + baseline, data = cof, clusters = building, se_type = se))
}
add("iv_HC2", iv_robust(y ~ uptake + baseline + stratum | assigned + baseline + stratum, data = ivd, se_type = "HC2"))
ivd$cluster <- as.integer(ivd$stratum)
add("iv_CR2", iv_robust(y ~ uptake + baseline | assigned + baseline, data = ivd, clusters = cluster, se_type = "CR2"))

# clubSandwich: CR2 with Satterthwaite (Bell-McCaffrey / Pustejovsky-Tipton) df
ols <- lm(y ~ treat + baseline, data = cof)
ct <- coef_test(ols, vcov = "CR2", cluster = cof$building, test = "Satterthwaite")
ci <- conf_int(ols, vcov = "CR2", cluster = cof$building, test = "Satterthwaite", level = 0.95)
rows[[length(rows) + 1]] <- data.frame(
  model = "coffee_clubSandwich_CR2", term = ct$Coef, estimate = ct$beta, std_error = ct$SE,
  df = ct$df_Satt, ci_low = ci$CI_L, ci_high = ci$CI_U, p_value = ct$p_Satt
)

out <- do.call(rbind, rows)
dir.create("tests/reference/output", showWarnings = FALSE)
write.csv(format(out, digits = 17), "tests/reference/output/estimatr_reference.csv", row.names = FALSE)
writeLines(c(R.version.string,
             paste("estimatr", packageVersion("estimatr")),
             paste("clubSandwich", packageVersion("clubSandwich"))),
           "tests/reference/output/versions.txt")
