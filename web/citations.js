// Clicking a [n] citation in an answer opens its card in the sources panel instead of following the link.
// Captured before Gradio's own handlers, which would open Markdown links in a new tab.
(() => {
  const open = (n) => {
    const card = document.getElementById(`src-${n}`);
    if (!card) return false;
    card.open = true;
    card.scrollIntoView({ behavior: "smooth", block: "nearest" });
    card.classList.remove("fa-flash");
    void card.offsetWidth; // restart the highlight animation
    card.classList.add("fa-flash");
    return true;
  };
  document.addEventListener(
    "click",
    (event) => {
      const link = event.target.closest && event.target.closest('a[href*="#src-"]');
      if (!link) return;
      const n = (link.getAttribute("href").match(/#src-(\d+)/) || [])[1];
      if (n && open(n)) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true,
  );
})();

// Gradio's ChatInterface blanks the question box's placeholder when a question is sent and never puts it
// back; remember the first one seen and restore it, so the box keeps saying what it is for.
(() => {
  let hint = "";
  const restore = () => {
    const box = document.querySelector("#fa-question textarea");
    if (!box) return;
    if (box.placeholder) hint = hint || box.placeholder;
    else if (hint) box.placeholder = hint;
  };
  new MutationObserver(restore).observe(document.documentElement, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ["placeholder"],
  });
})();
