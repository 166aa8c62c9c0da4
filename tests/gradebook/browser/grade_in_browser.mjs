// Drives the grading pages of `lab3 answers serve` in a real (headless) Chromium, as a TA would:
// open a question, enter points and a comment for one student, save, reload, read them back; and
// records whether anything from the students' answers ran (dialogs, a global set by a script).
// Usage: node grade_in_browser.mjs '{"url": ..., "question": ..., "submission": ..., "points": ...,
//   "comment": ..., "other_submission": ..., "inspect_submission": ..., "screenshot": ...}'
//   -> one JSON line on stdout
import chromium from '@sparticuz/chromium';
import puppeteer from 'puppeteer-core';

const job = JSON.parse(process.argv[2]);
const result = {dialogs: [], console_errors: []};
const browser = await puppeteer.launch({
  args: chromium.args, executablePath: await chromium.executablePath(), headless: true,
  defaultViewport: {width: 1200, height: 900},
});
try {
  const page = await browser.newPage();
  page.on('dialog', async (d) => { result.dialogs.push(d.message()); await d.dismiss(); });
  page.on('console', (m) => { if (m.type() === 'error') result.console_errors.push(m.text()); });
  const url = `${job.url}q/${encodeURIComponent(job.question)}`;
  await page.goto(url, {waitUntil: 'load'});
  const article = `article[id="s-${job.submission}"]`;
  await page.waitForSelector(article);
  result.xss_flag = await page.evaluate(() => window.__xss === undefined ? null : String(window.__xss));
  result.scripts_in_answers = await page.evaluate(() => document.querySelectorAll('.answer script').length);
  const inspect = `article[id="s-${job.inspect_submission || job.submission}"]`;
  result.answer_html = await page.$eval(`${inspect} .answer`, (el) => el.innerHTML).catch(() => null);
  result.lazy_images = await page.evaluate(() => [...document.querySelectorAll('img')].filter((i) => i.loading === 'lazy').length);
  // the rubric's checkboxes add up into the points box
  for (const box of await page.$$(`${article} input.rubric`)) await box.click();
  result.rubric_sum = await page.$eval(`${article} input[name=points]`, (el) => el.value);
  // enter the grade
  await page.$eval(`${article} input[name=points]`, (el) => { el.value = ''; });
  await page.type(`${article} input[name=points]`, String(job.points));
  await page.$eval(`${article} textarea[name=comment]`, (el) => { el.value = ''; });
  await page.type(`${article} textarea[name=comment]`, job.comment);
  await page.click(`${article} button[type=submit]`);
  await page.waitForFunction((sel) => /^saved 2/.test(document.querySelector(`${sel} .saved`).textContent),
                             {timeout: 15000}, article);
  result.saved_text = await page.$eval(`${article} .saved`, (el) => el.textContent);
  // an out-of-range grade is refused with a message, nothing saved
  const other = job.other_submission ? `article[id="s-${job.other_submission}"]` : null;
  if (other) {
    await page.$eval(`${other} input[name=points]`, (el) => { el.value = '99'; el.removeAttribute('max'); });
    await page.click(`${other} button[type=submit]`);
    await page.waitForFunction((sel) => document.querySelector(`${sel} .saved`).classList.contains('error'),
                               {timeout: 15000}, other);
    result.refused_text = await page.$eval(`${other} .saved`, (el) => el.textContent);
  }
  // reload: the grade is read back from the server's file
  await page.reload({waitUntil: 'load'});
  await page.waitForSelector(article);
  result.after = {
    points: await page.$eval(`${article} input[name=points]`, (el) => el.value),
    comment: await page.$eval(`${article} textarea[name=comment]`, (el) => el.value),
    state: await page.$eval(`${article} h3 .state`, (el) => el.textContent),
  };
  // a figure: its thumbnail loads once scrolled to, its link opens the full-size file
  const fig = await page.$('.figs a');
  if (fig) {
    await fig.evaluate((a) => a.scrollIntoView());
    await page.waitForFunction(() => { const i = document.querySelector('.figs img'); return i.complete && i.naturalWidth > 0; },
                               {timeout: 15000});
    result.figure = await fig.evaluate(async (a) => {
      const r = await fetch(a.href);
      return {href: a.getAttribute('href'), status: r.status, type: r.headers.get('content-type'),
              bytes: (await r.arrayBuffer()).byteLength, thumb_width: a.querySelector('img').naturalWidth};
    });
  }
  if (job.screenshot) {
    await page.goto(url, {waitUntil: 'load'});
    await page.screenshot({path: job.screenshot, fullPage: false});
  }
  result.xss_flag_after = await page.evaluate(() => window.__xss === undefined ? null : String(window.__xss));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
