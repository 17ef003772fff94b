# Reference values for analysis/repeated_measures.py, from lme4 (REML) and estimatr.
#
#   Rscript tests/reference/repeated_measures_reference.R   (run from the repository root)
#
# Reads tests/reference/data/repeated_measures.csv (make_issue15_datasets.py) and writes,
# with 17 significant digits, tests/reference/output/repeated_measures.csv: one row per
# (dataset, table, name, quantity), where table is
#   coefficient  lmer fixed effects: estimate, se (sqrt of diag(vcov))
#   effect       arm effect at each wave and the pooled average over waves (name arm|wave):
#                estimate, se, from fixef and vcov
#   variance     participant, site, residual variances; REMLcrit
#   mean         each arm's mean by wave (name arm|wave): n, mean, se, ci_low, ci_high, from
#                t.test (individual) or estimatr::lm_robust(y ~ 1, clusters = site,
#                se_type = "stata") (cluster: CR1, t with G - 1 df)
# and output/repeated_measures_versions.txt. The Python tests read these; they never need R.
suppressPackageStartupMessages({
  library(lme4)
  library(estimatr)
})

d <- read.csv("tests/reference/data/repeated_measures.csv")
num <- function(x) trimws(formatC(as.numeric(x), digits = 17, format = "g"))
rows <- list()
add <- function(dataset, table, name, values) {
  rows[[length(rows) + 1]] <<- data.frame(dataset = dataset, table = table, name = name,
                                          quantity = names(values), value = num(values))
}

designs <- list(
  individual = list(arms = c("control", "letter", "coach"), waves = c("w1", "w2", "w3"),
                    formula = y ~ arm * wave + baseline + (1 | participant), cluster = FALSE),
  cluster = list(arms = c("control", "active"), waves = c("w1", "w2"),
                 formula = y ~ arm * wave + baseline + (1 | participant) + (1 | site),
                 cluster = TRUE)
)

for (name in names(designs)) {
  spec <- designs[[name]]
  s <- d[d$dataset == name, ]
  s$arm <- factor(s$arm, levels = spec$arms)
  s$wave <- factor(s$wave, levels = spec$waves)
  fit <- lmer(spec$formula, data = s, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12)))
  b <- fixef(fit)
  V <- as.matrix(vcov(fit))
  for (term in names(b)) add(name, "coefficient", term, c(estimate = b[[term]],
                                                          se = sqrt(V[term, term])))
  for (a in spec$arms[-1]) {
    total <- 0
    for (w in spec$waves) {
      L <- setNames(numeric(length(b)), names(b))
      L[paste0("arm", a)] <- 1
      if (w != spec$waves[1]) L[paste0("arm", a, ":wave", w)] <- 1
      total <- total + L
      add(name, "effect", paste0(a, "|", w),
          c(estimate = sum(L * b), se = sqrt(drop(t(L) %*% V %*% L))))
    }
    L <- total / length(spec$waves)   # the pooled average effect over waves
    add(name, "effect", paste0(a, "|pooled"),
        c(estimate = sum(L * b), se = sqrt(drop(t(L) %*% V %*% L))))
  }
  vc <- as.data.frame(VarCorr(fit))
  add(name, "variance", "fit",
      c(participant = vc$vcov[vc$grp == "participant"],
        site = if (spec$cluster) vc$vcov[vc$grp == "site"] else 0,
        residual = vc$vcov[vc$grp == "Residual"], reml_criterion = REMLcrit(fit)))
  for (a in spec$arms) for (w in spec$waves) {
    cell <- s[s$arm == a & s$wave == w, ]
    if (spec$cluster) {
      m <- lm_robust(y ~ 1, data = cell, clusters = site, se_type = "stata")
      out <- c(n = nrow(cell), mean = unname(coef(m)), se = unname(m$std.error),
               ci_low = unname(m$conf.low), ci_high = unname(m$conf.high))
    } else {
      tt <- t.test(cell$y)
      out <- c(n = nrow(cell), mean = unname(tt$estimate), se = unname(tt$stderr),
               ci_low = tt$conf.int[1], ci_high = tt$conf.int[2])
    }
    add(name, "mean", paste0(a, "|", w), out)
  }
}

res <- do.call(rbind, rows)
dir.create("tests/reference/output", showWarnings = FALSE)
write.csv(res, "tests/reference/output/repeated_measures.csv", row.names = FALSE, quote = FALSE)
writeLines(c(R.version.string, paste("lme4", packageVersion("lme4")),
             paste("Matrix", packageVersion("Matrix")),
             paste("estimatr", packageVersion("estimatr"))),
           "tests/reference/output/repeated_measures_versions.txt")
print(res[res$table != "mean", ])
