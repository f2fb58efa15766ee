// An archive clerk's section: the archive (/archive: the server mints the clerk's token
// and sends the page on) and a case-number search that opens /archive?case=<number>.

const $ = (id) => document.getElementById(id);

export function startClerk() {
  $("case-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const number = $("case-number").value.trim();
    if (!number) {
      $("case-number").focus();
      return;
    }
    location.assign(`/archive?${new URLSearchParams({ case: number })}`);
  });
  return { render() {} };
}
