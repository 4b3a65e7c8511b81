// The send page: choosing another template reloads the form with that template's variables.
const chooser = document.getElementById("choose-template");
if (chooser) {
  chooser.querySelector("select").addEventListener("change", () => chooser.requestSubmit());
}
